// `modelgrid serve` and the hidden `modelgrid worker` it starts.
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "serve/model_grid.h"
#include "serve/worker_loop.h"
#include "server/http_server.h"

namespace modelgrid::cli {

namespace {

struct ServeArgs {
  std::string repository;
  std::string gpus = "cpu";
  std::string strategy = "memory-optimized";
  std::string host = "127.0.0.1";
  int port = 8000;
  int http_threads = 4;
  std::string footprints;
  uint32_t heartbeat_timeout_ms = 5000;
};

std::string SelfExecutable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "modelgrid";
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

void Log(const std::string& line) {
  std::fprintf(stderr, "[modelgrid] %s\n", line.c_str());
  std::fflush(stderr);
}

int RunServe(const ServeArgs& args) {
  // Signals are taken synchronously by this thread; every thread started from here on
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  ServeOptions options;
  options.repository = args.repository;
  options.gpus = args.gpus;
  options.strategy = args.strategy;
  options.worker_executable = SelfExecutable();
  options.footprint_store_path =
      args.footprints.empty() ? DefaultFootprintStore() : args.footprints;
  options.heartbeat_timeout_ms = args.heartbeat_timeout_ms;
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
  http.io_threads = args.http_threads;
  auto server = server::HttpServer::Start(http, **grid);
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    (*grid)->Shutdown(2000);
    return 1;
  }
  const std::string url = "http://" + args.host + ":" + std::to_string((*server)->port());
  std::cout << "serving KServe v2 on " << url << "\n"
            << "  curl " << url << "/v2/health/ready\n"
            << "  curl " << url << "/v2/models/<model>\n"
            << "  curl " << url << "/v2/models/<model>/stats\n"
            << "  curl -X POST " << url
            << "/v2/models/<model>/infer -d '{\"inputs\":[{\"name\":\"INPUT__0\","
               "\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]}]}'\n"
            << std::flush;
  int signal = 0;
  sigwait(&signals, &signal);
  Log(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
      "; finishing requests in flight");
  (*server)->Stop(std::chrono::seconds(30));
  (*grid)->Shutdown(5000);
  Log("stopped");
  return 0;
}

}  // namespace

void RegisterServe(CLI::App& app, Handler* handler) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve a Triton-style model repository over KServe v2 from shared workers");
  cmd->add_option("repository", args->repository,
                  "REPO/<model>/config.pbtxt + REPO/<model>/<version>/model.pt")
      ->required();
  cmd->add_option("--gpus", args->gpus, "cpu (default), auto (NVML) or a spec like 2xH100-80GB");
  cmd->add_option("--strategy", args->strategy, "Placement strategy (see modelgrid plan)");
  cmd->add_option("--host", args->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", args->port, "Port (default 8000; 0 picks a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-threads", args->http_threads, "HTTP I/O threads")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--footprints", args->footprints,
                  "Measured-footprint store (default $XDG_STATE_HOME/modelgrid/footprints.json)");
  cmd->add_option("--heartbeat-timeout-ms", args->heartbeat_timeout_ms,
                  "Kill a worker silent this long")
      ->check(CLI::Range(200, 600000));
  cmd->callback([args, handler] { *handler = [args] { return RunServe(*args); }; });

  auto worker = std::make_shared<WorkerLoopOptions>();
  CLI::App* w = app.add_subcommand("worker", "Internal: a worker process started by serve");
  w->group("");  // hidden from --help
  w->add_option("--shm-fd", worker->shm_fd, "Shared-memory segment descriptor")->required();
  w->add_option("--name", worker->name, "Worker name");
  w->callback([worker, handler] {
    *handler = [worker] {
#ifdef MODELGRID_HAVE_TORCH
      auto backend = CreateTorchBackend();
      return RunWorker(*worker, *backend);
#else
      std::fprintf(stderr, "worker: this build has no LibTorch backend\n");
      return 3;
#endif
    };
  });
}

}  // namespace modelgrid::cli
