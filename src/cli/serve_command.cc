// `modelgrid serve`. Its workers are `modelgrid-worker serve` processes: this binary runs no
// model code.
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "common/byte_size.h"
#include "common/log.h"
#include "common/temp_folder.h"
#include "estimate/dry_run_process.h"
#include "gpu/device_usage.h"
#include "serve/host_policy.h"
#include "serve/model_grid.h"
#include "serve/model_repository.h"
#include "server/http_server.h"
#include "server/shared_memory.h"
// Plain options in every build; the server behind them only where gRPC is built.
#include "grpc/grpc_server.h"

namespace modelgrid::cli {

namespace {

struct ServeArgs {
  std::string repository;
  std::string gpus = "cpu";
  std::string strategy = "memory-optimized";
  std::string host = "127.0.0.1";
  int port = 8000;
  int http_threads = 0;  // server::DefaultIoThreads()
  std::string footprints;
  uint32_t heartbeat_timeout_ms = 5000;
  std::string model_control_mode = "none";
  bool model_control_mode_given = false;
  bool modelmesh = false;  // serve KServe ModelMesh's runtime SPI on the gRPC port
  std::vector<std::string> load_models;
  uint32_t poll_secs = 15;
  double replan_fragmentation = 0;
  uint32_t exit_timeout_secs = 30;
  std::string api_key;
  uint64_t max_body_bytes = uint64_t{64} << 20;
  uint64_t max_header_bytes = uint64_t{16} << 10;
  int64_t idle_timeout_ms = server::ServerOptions{}.idle_timeout_ms;
  int64_t request_timeout_ms = server::ServerOptions{}.request_timeout_ms;
  size_t max_connections = server::ServerOptions{}.max_connections;
  size_t max_connections_per_client = server::ServerOptions{}.max_connections_per_client;
  std::string grpc_port = "8001";  // a port, "auto" (a free one) or "0" (off)
  bool grpc_port_given = false;
  std::string grpc_host;  // "": --host
  // The gRPC limits and keepalive, with their defaults (address, port, key and shared
  // memory are set at start).
  rpc::GrpcServerOptions grpc;
  std::string worker_user;
  std::vector<std::string> host_policies;  // Triton's --host-policy NAME,SETTING=VALUE
  std::string host_cache;                  // "": off; a size, or "auto"
  uint32_t host_cache_wait_ms = ServeOptions{}.host_cache_wait_ms;
  logging::LogOptions log;
  uint64_t log_max_size_mb = 64;
};

// --host-cache: a size, or "auto", kAutoHostCacheShare of the host memory available now.
constexpr double kAutoHostCacheShare = 0.5;
Result<uint64_t> HostCacheBytes(const std::string& text) {
  if (text != "auto") return ParseByteSize(text);
  MG_ASSIGN_OR_RETURN(HostMemory host, QueryHostMemory());
  return static_cast<uint64_t>(static_cast<double>(host.available_bytes) * kAutoHostCacheShare);
}

std::string DefaultFootprintStore() {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  std::string dir = state && *state ? std::string(state) + "/modelgrid"
                    : home && *home ? std::string(home) + "/.local/state/modelgrid"
                                    : "";
  if (dir.empty()) return "";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return ec ? "" : dir + "/footprints.json";
}

// Each connection holds a descriptor, and Debian's default soft limit (1024) is below the
// default --http-max-connections (4096): take what the hard limit allows, as servers do.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

// The serving core's log lines, through spdlog: "warning: ..." lines as warnings.
void Log(const std::string& line) {
  constexpr std::string_view kWarning = "warning: ";
  if (line.rfind(kWarning, 0) == 0) {
    logging::Warn(std::string_view(line).substr(kWarning.size()));
  } else {
    logging::Info(line);
  }
}

#ifdef MODELGRID_HAVE_GRPC
constexpr bool kHaveGrpc = true;
#else
constexpr bool kHaveGrpc = false;
#endif

// --grpc-port: the port to bind (0 for a free one), or nullopt when gRPC is off.
Result<std::optional<uint16_t>> GrpcPort(const ServeArgs& args) {
  if (args.grpc_port == "0") return std::optional<uint16_t>();
  if (args.grpc_port == "auto") return std::optional<uint16_t>(0);
  int port = 0;
  auto [end, ec] =
      std::from_chars(args.grpc_port.data(), args.grpc_port.data() + args.grpc_port.size(), port);
  if (ec != std::errc() || end != args.grpc_port.data() + args.grpc_port.size() || port < 1 ||
      port > 65535) {
    return InvalidArgument("--grpc-port must be a port (1-65535), auto or 0 (off), not \"" +
                           args.grpc_port + "\"");
  }
  return std::optional<uint16_t>(static_cast<uint16_t>(port));
}

// The gRPC front end (builds with gRPC only).
#ifdef MODELGRID_HAVE_GRPC
using GrpcFrontEnd = std::unique_ptr<rpc::GrpcServer>;
Result<GrpcFrontEnd> StartGrpc(const ServeArgs& args, const std::string& api_key, uint16_t port,
                               server::SystemSharedMemory* shm, ModelGrid& grid) {
  rpc::GrpcServerOptions o = args.grpc;
  o.address = args.grpc_host.empty() ? args.host : args.grpc_host;
  o.port = port;
  o.api_key = api_key;
  o.shared_memory = shm;
  if (args.modelmesh) o.model_runtime = &grid;
  return rpc::GrpcServer::Start(o, grid);
}
#endif

// An empty folder made for the run, removed at its end (rmdir: only if still empty).
struct TempFolder {
  std::string path;
  ~TempFolder() {
    if (!path.empty()) ::rmdir(path.c_str());
  }
};

int RunServe(const ServeArgs& args) {
  // Signals are taken synchronously by this thread; every thread started from here on
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  RaiseOpenFileLimit();

  logging::LogOptions log = args.log;
  log.max_file_bytes = args.log_max_size_mb << 20;
  if (Status st = logging::InitLogging(log); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 2;
  }
  std::string api_key = args.api_key;
  if (api_key.empty()) {
    if (const char* env = std::getenv("MODELGRID_API_KEY")) api_key = env;
  }
  ::unsetenv("MODELGRID_API_KEY");  // workers inherit the environment and need no key
  auto grpc_port = GrpcPort(args);
  if (!grpc_port.ok()) {
    std::cerr << "error: " << grpc_port.status().message() << "\n";
    return 2;
  }
  if (!kHaveGrpc && *grpc_port && args.grpc_port_given) {
    std::cerr << "error: --grpc-port " << args.grpc_port
              << ": this build of ModelGrid has no gRPC front end (it was built without "
                 "libgrpc++-dev); use --grpc-port 0, or rebuild with gRPC\n";
    return 2;
  }
  ServeOptions options;
  auto mode = ParseModelControlMode(args.model_control_mode);
  if (!mode.ok()) {
    std::cerr << "error: " << mode.status().message() << "\n";
    return 2;
  }
  // ModelMesh decides what loads (over its SPI), so the mode is explicit.
  if (args.modelmesh) {
    if (!kHaveGrpc || !*grpc_port) {
      std::cerr << "error: --modelmesh serves ModelMesh's runtime SPI on the gRPC port: "
                << (kHaveGrpc ? "give a --grpc-port other than 0"
                              : "this build has no gRPC front end (built without libgrpc++-dev)")
                << "\n";
      return 2;
    }
    if (args.model_control_mode_given && *mode != ModelControlMode::kExplicit) {
      std::cerr << "error: --modelmesh needs --model-control-mode explicit (ModelMesh loads "
                   "and unloads the models)\n";
      return 2;
    }
    mode = ModelControlMode::kExplicit;
  }
  if (args.repository.empty() && !args.modelmesh) {
    std::cerr << "error: serve needs a model repository (or --modelmesh)\n";
    return 2;
  }
  options.model_control = *mode;
  options.modelmesh = args.modelmesh;
  if (args.modelmesh) {
    // predictModelSize must answer within ModelMesh's deadline: TorchScript estimates keep
    // a dry-run child started ahead of them.
    DryRunSandbox sandbox;
    sandbox.worker_executable = DefaultWorkerExecutable();
    SetDryRunner(WarmSandboxedDryRunner(sandbox));
  }
  for (const auto& name : args.load_models) {
    if (name != "*" && !IsValidModelName(name)) {
      std::cerr << "error: --load-model '" << name << "' is not a valid model name\n";
      return 2;
    }
  }
  if (!args.load_models.empty() && *mode != ModelControlMode::kExplicit) {
    std::cerr << "error: --load-model needs --model-control-mode=explicit\n";
    return 2;
  }
  options.load_models = args.load_models;
  options.poll_interval_ms = args.poll_secs * 1000;
  options.replan_fragmentation = args.replan_fragmentation;
  if (!args.worker_user.empty()) options.worker_args = {"--user", args.worker_user};
  auto policies = ParseHostPolicies(args.host_policies);
  if (!policies.ok()) {
    std::cerr << "error: " << policies.status().message() << "\n";
    return 2;
  }
  options.host_policies = std::move(*policies);
  options.repository = args.repository;
  // With --modelmesh and no repository, an empty one: every model comes from ModelMesh.
  TempFolder empty_repository;
  if (options.repository.empty()) {
    auto dir = MakeTempFolder("modelgrid-repo");
    if (!dir.ok()) {
      std::cerr << "error: " << dir.status().message() << "\n";
      return 1;
    }
    empty_repository.path = options.repository = *dir;
  }
  if (!args.host_cache.empty()) {
    auto bytes = HostCacheBytes(args.host_cache);
    if (!bytes.ok()) {
      std::cerr << "error: --host-cache: " << bytes.status().message() << "\n";
      return 2;
    }
    options.host_cache_bytes = *bytes;
    options.host_cache_wait_ms = args.host_cache_wait_ms;
  }
  options.gpus = args.gpus;
  options.strategy = args.strategy;
  options.worker_executable = DefaultWorkerExecutable();
  options.footprint_store_path =
      args.footprints.empty() ? DefaultFootprintStore() : args.footprints;
  options.heartbeat_timeout_ms = args.heartbeat_timeout_ms;
  // The largest request the server accepts must fit a worker's arena with an output of the
  // same size beside it (add_one's case), plus a MiB for alignment and small outputs. The
  // arena is shared memory: pages cost nothing until a request touches them.
  options.shm.arena_bytes =
      std::max(options.shm.arena_bytes,
               2 * std::max(args.max_body_bytes,
                            kHaveGrpc && *grpc_port ? args.grpc.max_message_bytes : uint64_t{0}) +
                   (uint64_t{1} << 20));
  const int http_threads = args.http_threads > 0 ? args.http_threads : server::DefaultIoThreads();
  options.event_loops = static_cast<size_t>(http_threads);
  auto grid = ModelGrid::Start(options, Log);
  if (!grid.ok() && args.gpus == "auto" && grid.status().code() == StatusCode::kUnavailable) {
    Log(grid.status().message() + "; serving on the CPU");
    options.gpus = "cpu";
    grid = ModelGrid::Start(options, Log);
  }
  if (!grid.ok()) {
    std::cerr << "error: " << grid.status().message() << "\n";
    return 1;
  }
  // Loading progress: a live line on a terminal, plain lines otherwise.
  const bool tty = ::isatty(STDERR_FILENO);
  int ready = 0, total = 0, shown = -1;
  const auto started = std::chrono::steady_clock::now();
  while (!(*grid)->AllSettled(&ready, &total)) {
    if (tty) {
      std::fprintf(stderr, "\r[modelgrid] loading models: %d/%d ready", ready, total);
    } else if (ready != shown) {
      Log("loading models: " + std::to_string(ready) + "/" + std::to_string(total) + " ready");
    }
    shown = ready;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() - started > std::chrono::minutes(10)) break;
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  Log(std::to_string(ready) + "/" + std::to_string(total) + " models ready");
  std::cout << (*grid)->PlacementTable() << std::flush;

  server::ServerOptions http;
  http.address = args.host;
  http.port = static_cast<uint16_t>(args.port);
  http.io_threads = http_threads;
  http.api_key = api_key;
  http.max_body_bytes = args.max_body_bytes;
  http.max_header_bytes = args.max_header_bytes;
  http.idle_timeout_ms = args.idle_timeout_ms;
  http.request_timeout_ms = args.request_timeout_ms;
  http.max_connections = args.max_connections;
  http.max_connections_per_client = args.max_connections_per_client;
  // One set of shared-memory regions for both front ends: a region registered over HTTP
  // serves gRPC requests and the other way round.
  server::SystemSharedMemory shared_memory;
  http.shared_memory = &shared_memory;
  auto server = server::HttpServer::Start(http, **grid);
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    (*grid)->Shutdown(2000);
    return 1;
  }
#ifdef MODELGRID_HAVE_GRPC
  GrpcFrontEnd grpc;
  if (*grpc_port) {
    auto started = StartGrpc(args, api_key, **grpc_port, &shared_memory, **grid);
    if (!started.ok()) {
      std::cerr << "error: " << started.status().message() << " (--grpc-port 0 turns gRPC off)\n";
      (*server)->Stop(std::chrono::seconds(0));
      (*grid)->Shutdown(2000);
      return 1;
    }
    grpc = std::move(started).value();
    std::cout << "serving KServe v2 gRPC on "
              << (args.grpc_host.empty() ? args.host : args.grpc_host) << ":" << grpc->port()
              << "\n";
  }
#else
  if (*grpc_port) Log("gRPC: not in this build (no libgrpc++-dev at build time); HTTP only");
#endif
  const std::string url = "http://" + args.host + ":" + std::to_string((*server)->port());
  std::cout << "serving KServe v2 on " << url << "\n"
            << "  curl " << url << "/v2/health/ready\n"
            << "  curl " << url << "/v2/models/<model>\n"
            << "  curl " << url << "/v2/models/<model>/stats\n"
            << "  curl -X POST " << url
            << "/v2/models/<model>/infer -d '{\"inputs\":[{\"name\":\"INPUT__0\","
               "\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]}]}'\n"
            << std::flush;
  if (!api_key.empty()) {
    Log("every endpoint but /v2/health/live (gRPC: ServerLive and health) needs the API key");
  }
  int signal = 0;
  const timespec second{1, 0};
  while ((signal = sigtimedwait(&signals, nullptr, &second)) < 0) logging::Flush();
  Log(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
      "; finishing requests in flight (up to " + std::to_string(args.exit_timeout_secs) + " s)");
  (*grid)->BeginShutdown();
  const auto deadline = std::chrono::seconds(args.exit_timeout_secs);
#ifdef MODELGRID_HAVE_GRPC
  // Both front ends drain at once, each within the deadline.
  std::thread grpc_stop;
  if (grpc) grpc_stop = std::thread([&grpc, deadline] { grpc->Stop(deadline); });
  (*server)->Stop(deadline);
  if (grpc_stop.joinable()) grpc_stop.join();
#else
  (*server)->Stop(deadline);
#endif
  (*grid)->Shutdown(5000);
  Log("stopped");
  logging::Flush();
  return 0;
}

}  // namespace

void RegisterServe(CLI::App& app, Handler* handler) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve a Triton-style model repository over KServe v2 from shared workers");
  cmd->add_option("repository", args->repository,
                  "REPO/<model>/config.pbtxt + REPO/<model>/<version>/model.pt (optional with "
                  "--modelmesh)");
  cmd->add_option("--gpus", args->gpus, "cpu (default), auto (NVML) or a spec like 2xH100-80GB");
  cmd->add_option("--strategy", args->strategy, "Placement strategy (see modelgrid plan)");
  cmd->add_option("--host", args->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", args->port, "Port (default 8000; 0 picks a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-threads", args->http_threads,
                  "HTTP I/O threads (default 0: one per four cores, 1 to 16)")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--footprints", args->footprints,
                  "Measured-footprint store (default $XDG_STATE_HOME/modelgrid/footprints.json)");
  cmd->add_option("--heartbeat-timeout-ms", args->heartbeat_timeout_ms,
                  "Kill a worker silent this long")
      ->check(CLI::Range(200, 600000));
  cmd->add_option("--model-control-mode", args->model_control_mode,
                  "none (load all), explicit (repository API) or poll (follow the folder)")
      ->each([args](const std::string&) { args->model_control_mode_given = true; });
  cmd->add_flag("--modelmesh", args->modelmesh,
                "Be a KServe ModelMesh serving runtime: serve its model-runtime SPI "
                "(mmesh.ModelRuntime) on the gRPC port; ModelMesh loads and unloads the models "
                "(explicit model control)" +
                    std::string(kHaveGrpc ? "" : " [needs gRPC: not in this build]"));
  cmd->add_option("--load-model", args->load_models,
                  "Explicit mode: load this model at start (repeatable; * for all)");
  cmd->add_option("--repository-poll-secs", args->poll_secs, "Poll mode: seconds between scans")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--replan-fragmentation", args->replan_fragmentation,
                  "Re-plan after an unload when fragmentation reaches this (0..1; 0 = never)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--exit-timeout-secs", args->exit_timeout_secs,
                  "On SIGTERM/SIGINT, wait this long for requests in flight")
      ->check(CLI::Range(0, 3600));
  cmd->add_option("--api-key", args->api_key,
                  "Require 'Authorization: Bearer KEY' on every endpoint but liveness, over HTTP "
                  "and gRPC (default: $MODELGRID_API_KEY)");
  cmd->add_option("--http-max-body-bytes", args->max_body_bytes,
                  "Largest request body, e.g. 64MiB (413 above)")
      ->transform(ByteSizeTransform())
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  cmd->add_option("--http-max-header-bytes", args->max_header_bytes,
                  "Largest request line plus headers, e.g. 16KiB (431 above)")
      ->transform(ByteSizeTransform())
      ->check(CLI::Range(uint64_t{256}, uint64_t{1} << 20));
  cmd->add_option("--http-idle-timeout-ms", args->idle_timeout_ms,
                  "Close a connection when nothing moves on it this long (default 60000); a "
                  "request cut off part-way gets 408")
      ->check(CLI::Range(int64_t{100}, int64_t{3600} * 1000));
  cmd->add_option("--http-request-timeout-ms", args->request_timeout_ms,
                  "A whole request (line, headers, body) must arrive within this long of its "
                  "first byte, else 408 and close (default 120000)")
      ->check(CLI::Range(int64_t{100}, int64_t{3600} * 1000));
  cmd->add_option("--http-max-connections", args->max_connections,
                  "Open connections at most; one more is answered 503 and closed (default 4096)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--http-max-connections-per-client", args->max_connections_per_client,
                  "Open connections per client address at most, 503 above (default 0: no limit)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  const std::string grpc_note =
      kHaveGrpc ? "" : " [this build has no gRPC front end: built without libgrpc++-dev]";
  cmd->add_option("--grpc-port", args->grpc_port,
                  "KServe v2 gRPC port (default 8001 as Triton; auto picks a free one; 0 turns "
                  "gRPC off)" +
                      grpc_note)
      ->each([args](const std::string&) { args->grpc_port_given = true; });
  cmd->add_option("--grpc-host", args->grpc_host, "Address for gRPC (default: --host)");
  cmd->add_option("--grpc-max-message-bytes", args->grpc.max_message_bytes,
                  "Largest gRPC request message, e.g. 64MiB (RESOURCE_EXHAUSTED above)")
      ->transform(ByteSizeTransform())
      ->check(CLI::Range(uint64_t{1} << 10, (uint64_t{1} << 31) - 1));
  cmd->add_option("--grpc-keepalive-time", args->grpc.keepalive_time_ms,
                  "gRPC keepalive ping period on idle connections, ms (default 7200000)")
      ->check(CLI::Range(int64_t{1000}, int64_t{INT32_MAX}));
  cmd->add_option("--grpc-keepalive-timeout", args->grpc.keepalive_timeout_ms,
                  "Drop a connection whose keepalive ping is unanswered this long, ms (default "
                  "20000)")
      ->check(CLI::Range(int64_t{100}, int64_t{INT32_MAX}));
  cmd->add_option("--grpc-keepalive-permit-without-calls",
                  args->grpc.keepalive_permit_without_calls,
                  "Let clients send keepalive pings with no call open (default false)");
  cmd->add_option("--grpc-http2-max-pings-without-data", args->grpc.http2_max_pings_without_data,
                  "Pings the server sends without data before it must wait (default 2; 0: no "
                  "limit)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--grpc-http2-min-recv-ping-interval-without-data",
                  args->grpc.http2_min_recv_ping_interval_without_data_ms,
                  "A client's pings without data closer than this are bad pings, ms (default "
                  "300000)")
      ->check(CLI::Range(int64_t{0}, int64_t{INT32_MAX}));
  cmd->add_option("--grpc-http2-max-ping-strikes", args->grpc.http2_max_ping_strikes,
                  "Close a connection after this many bad pings (default 2; 0: never)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--host-cache", args->host_cache,
                  "Host memory for parked models (a size, or auto: half of the available "
                  "memory): models beyond the devices wait there and swap in on request");
  cmd->add_option("--host-cache-wait-ms", args->host_cache_wait_ms,
                  "Longest a request waits for its model's swap-in (default 10000)");
  cmd->add_option("--host-policy", args->host_policies,
                  "Triton's host policy, NAME,SETTING=VALUE (repeat it): NAME is cpu or "
                  "gpu_<N>, SETTING cpu-cores=LIST (like 0-3,8) or numa-node=N; that "
                  "device's workers run on those cores, with memory from that node")
      ->allow_extra_args(false);
  cmd->add_option("--worker-user", args->worker_user,
                  "When started as root, run workers as this user (they always drop "
                  "capabilities and set no_new_privs)");
  cmd->add_option("--log-level", args->log.level, "trace, debug, info, warn, error or off");
  cmd->add_option("--log-format", args->log.format, "text or json (one object per line)");
  cmd->add_option("--log-file", args->log.file, "Also log to this file, rotated by size");
  cmd->add_option("--log-max-size-mb", args->log_max_size_mb, "Rotate the log file at this size")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--log-max-files", args->log.max_files, "Rotated log files kept")
      ->check(CLI::Range(1, 1000));
  cmd->callback([args, handler] { *handler = [args] { return RunServe(*args); }; });
}

}  // namespace modelgrid::cli
