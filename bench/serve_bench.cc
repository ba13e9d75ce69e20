// Serving overhead: TorchScript models through HTTP + shared-memory IPC + a worker process,
// against the same model called in-process through the LibTorch backend, measured in the
// same run. Two models: the smallest possible one (x + 1 on 4 floats), where only the fixed
// cost per request shows, and the fixture transformer encoder layer (16 x 64 floats), where
// the model's own work dominates as it does for real models.
//
//   build/bench/serve_bench [--seconds-per-level 1.5] [--model add_one|transformer]
//                           [--http-threads N]   (default 0: the server's own default)
//                           [--device cpu|cuda:N]  (cuda: the server runs on --gpus auto)
//                           [--host-policy NAME,SETTING=VALUE]...  (passed to modelgrid serve)
//                           [--server-cpus LIST]  (the server's cores, as `taskset -c LIST`)
//
// Prints, per model, p50/p99 latency of one client (keep-alive) and the ratio to the
// in-process call, the threads woken and the CPU time per request in the server and in its
// worker (the worker's beside the in-process call, whose work it repeats), then
// throughput at concurrency 1..64 against in-process threads sharing one instance (a served
// model also runs one instance), each level's time cut into turns taken in rotation. In builds with
// gRPC the binary cases also measure the same requests over KServe v2 gRPC (ModelInfer, raw
// tensors, one connection per client) against the same server in the same run, twice: with gRPC
// C++'s client, and with a raw HTTP/2 client as light as the HTTP one (raw_grpc_connection.h), so
// that the server's gRPC cost can be told from the client's on these shared cores.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "loopback_socket.h"
#include "serve/host_policy.h"
#ifdef MODELGRID_HAVE_GRPC
#include <grpcpp/grpcpp.h>

#include "grpc/abseil_mutex_mode.h"
#include "grpc_service.grpc.pb.h"
#include "raw_grpc_connection.h"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// What serving cost the server and its child processes (the workers) so far, from /proc:
// context switches, voluntary or not, of every thread (how many times serving woke a
// thread), and time on a CPU, user and system, of every thread (threads that ended are
// not counted; serving's threads live as long as the server).
struct ServingCost {
  long switches = 0;
  double server_cpu_us = 0;
  double worker_cpu_us = 0;
};

ServingCost ServingCostOf(pid_t pid) {
  const std::string server = std::to_string(pid);
  ServingCost total;
  std::error_code ec;
  auto add_process = [&](const std::string& p, double* cpu_us) {
    for (const auto& task : fs::directory_iterator("/proc/" + p + "/task", ec)) {
      std::ifstream status(task.path() / "status");
      std::string line;
      while (std::getline(status, line)) {
        if (line.find("ctxt_switches:") != std::string::npos) {
          total.switches += std::atol(line.c_str() + line.find(':') + 1);
        }
      }
      // schedstat: nanoseconds on a CPU, then waiting to run, then time slices.
      std::ifstream schedstat(task.path() / "schedstat");
      double on_cpu_ns = 0;
      if (schedstat >> on_cpu_ns) *cpu_us += on_cpu_ns / 1000;
    }
  };
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // "pid (comm) state ppid ...": the comm may hold spaces and parentheses.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    if (name == server) add_process(name, &total.server_cpu_us);
    if (std::atol(stat.c_str() + close + 4) == pid) add_process(name, &total.worker_cpu_us);
  }
  return total;
}

// Per request between two readings.
struct CostPerRequest {
  double switches = 0;
  double server_cpu_us = 0;
  double worker_cpu_us = 0;
};
CostPerRequest PerRequest(const ServingCost& before, const ServingCost& after, int requests) {
  return {static_cast<double>(after.switches - before.switches) / requests,
          (after.server_cpu_us - before.server_cpu_us) / requests,
          (after.worker_cpu_us - before.worker_cpu_us) / requests};
}

// A minimal keep-alive HTTP/1.1 client for one connection.
class Connection {
 public:
  explicit Connection(int port) : fd_(ConnectLoopback(port)), ok_(fd_ >= 0) {}
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Sends one POST and reads the reply; returns the HTTP status (0 on failure).
  int Post(const std::string& path, const std::string& body, size_t binary_header = 0) {
    if (!ok_) return 0;
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\n";
    if (binary_header > 0) {
      req += "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: " +
             std::to_string(binary_header) + "\r\n";
    } else {
      req += "Content-Type: application/json\r\n";
    }
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return 0;
    }
    std::string buf;
    char chunk[8192];
    size_t header_end = std::string::npos;
    size_t length = 0;
    while (true) {
      if (header_end == std::string::npos) {
        header_end = buf.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          const size_t cl = buf.find("Content-Length: ");
          length = cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16));
        }
      }
      if (header_end != std::string::npos && buf.size() >= header_end + 4 + length) break;
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return 0;
      buf.append(chunk, static_cast<size_t>(n));
    }
    return buf.size() > 12 ? std::atoi(buf.c_str() + 9) : 0;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

#ifdef MODELGRID_HAVE_GRPC
// The ModelInfer request for `data` of `shape`, raw.
inference::ModelInferRequest InferRequest(const std::string& model,
                                          const std::vector<int64_t>& shape,
                                          const std::vector<float>& data) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* in = request.add_inputs();
  in->set_name("INPUT__0");
  in->set_datatype("FP32");
  for (int64_t d : shape) in->add_shape(d);
  request.add_raw_input_contents(
      std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
  return request;
}

// A gRPC C++ client on a channel of its own (its own TCP connection), as each HTTP client
// has.
class GrpcConnection {
 public:
  GrpcConnection(int port, const inference::ModelInferRequest& request) : request_(request) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
  }
  // One ModelInfer; true when it succeeded with an output.
  bool Infer() {
    grpc::ClientContext ctx;
    inference::ModelInferResponse response;
    return stub_->ModelInfer(&ctx, request_, &response).ok() &&
           response.raw_output_contents_size() == 1;
  }

 private:
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  const inference::ModelInferRequest& request_;
};
#endif

// One benchmarked model: its file, its config, and one request.
struct Case {
  std::string name;
  std::string file;           // under .fixtures/
  std::string describe;       // for the report
  std::vector<int64_t> dims;  // of INPUT__0 and OUTPUT__0 after the batch dimension
  std::string config_dims;    // as config.pbtxt spells them
  std::vector<int64_t> request_shape;
  bool binary = false;  // the binary tensor extension for the input and the output
};

std::vector<Case> Cases() {
  const std::string encoder = "repo/transformer/1/model.pt";
  return {{"add_one", "serve/add_one.pt", "x + 1 on 4 floats", {-1}, "-1", {1, 4}, false},
          {"add_one",
           "serve/add_one.pt",
           "x + 1 on 4 floats, binary tensors",
           {-1},
           "-1",
           {1, 4},
           true},
          {"transformer",
           encoder,
           "encoder layer, 16 x 64 floats, JSON tensors",
           {16, 64},
           "16, 64",
           {1, 16, 64},
           false},
          {"transformer",
           encoder,
           "encoder layer, 16 x 64 floats, binary tensors",
           {16, 64},
           "16, 64",
           {1, 16, 64},
           true}};
}

std::string JsonBody(const std::vector<int64_t>& shape, const std::vector<float>& data) {
  std::string body = R"({"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[)";
  for (size_t i = 0; i < shape.size(); ++i) body += (i ? "," : "") + std::to_string(shape[i]);
  body += R"(],"data":[)";
  for (size_t i = 0; i < data.size(); ++i) {
    body += (i ? "," : "") + std::to_string(static_cast<int>(data[i]));
  }
  return body + "]}]}";
}

// The binary tensor extension: a JSON header, then the raw input bytes; the output comes
// back raw too. `*header` is the JSON header's length.
std::string BinaryBody(const std::vector<int64_t>& shape, const std::vector<float>& data,
                       size_t* header) {
  std::string json = R"({"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[)";
  for (size_t i = 0; i < shape.size(); ++i) json += (i ? "," : "") + std::to_string(shape[i]);
  json += R"(],"parameters":{"binary_data_size":)" + std::to_string(data.size() * 4) +
          R"(}}],"outputs":[{"name":"OUTPUT__0","parameters":{"binary_data":true}}]})";
  *header = json.size();
  return json + std::string(reinterpret_cast<const char*>(data.data()), data.size() * 4);
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  int grpc_port = 0;  // 0: no gRPC in this build
};

Server StartServer(const std::string& repo, const std::string& footprints,
                   const std::string& http_threads, const std::string& gpus,
                   const std::vector<std::string>& host_policies,
                   const std::vector<int>& server_cpus) {
  int out[2];
  if (::pipe(out) != 0) return {};
#ifdef MODELGRID_HAVE_GRPC
  const std::string grpc_port = "auto";
#else
  const std::string grpc_port = "0";
#endif
  // --http-threads 0 is the server's own default, unless the benchmark is told otherwise.
  std::vector<std::string> args = {
      MODELGRID_BINARY, "serve",      repo,     "--port", "0",           "--footprints", footprints,
      "--http-threads", http_threads, "--gpus", gpus,     "--grpc-port", grpc_port};
  for (const std::string& policy : host_policies) {
    args.insert(args.end(), {"--host-policy", policy});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // --server-cpus, as `taskset` would set it: the process manager's binding of a worker.
  const modelgrid::PreparedHostBinding binding(modelgrid::HostBinding{server_cpus, -1});
  const pid_t pid = ::fork();
  if (pid == 0) {
    const char* failed_call = nullptr;
    if (binding.Apply(&failed_call) != 0) ::_exit(126);
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  Server s{pid, 0};
  std::string text;
  char c;
  while (::read(out[0], &c, 1) == 1) {
    text += c;
    // The gRPC line comes first, when there is one.
    const size_t g = text.find("serving KServe v2 gRPC on 127.0.0.1:");
    if (g != std::string::npos && s.grpc_port == 0 && c == '\n') {
      s.grpc_port = std::atoi(text.c_str() + g + 36);
    }
    const size_t at = text.find("serving KServe v2 on http://127.0.0.1:");
    if (at != std::string::npos && c == '\n') {
      s.port = std::atoi(text.c_str() + at + 38);
      break;
    }
  }
  return s;
}

// Runs one case; false when it could not start.
bool RunCase(const Case& c, double seconds, const std::string& http_threads,
             const std::string& device, const std::vector<std::string>& host_policies,
             const std::vector<int>& server_cpus) {
  const std::string model = std::string(MODELGRID_SOURCE_DIR) + "/.fixtures/" + c.file;
  if (!fs::exists(model)) {
    std::fprintf(stderr, "missing %s: run scripts/make-fixtures.sh\n", model.c_str());
    return false;
  }
  // In-process baseline: the backend the worker uses, in this process.
  modelgrid::ModelInstanceConfig config;
  config.path = model;
  config.device = device;
  config.max_batch_size = 8;
  config.inputs = {{"INPUT__0", modelgrid::TensorDType::kFp32, c.dims}};
  auto backend = modelgrid::CreateTorchBackend();
  auto instance = backend->Load(config);
  if (!instance.ok()) {
    std::fprintf(stderr, "load: %s\n", instance.status().ToString().c_str());
    return false;
  }
  int64_t elements = 1;
  for (int64_t d : c.request_shape) elements *= d;
  std::vector<float> x(static_cast<size_t>(elements));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  size_t header = 0;
  const std::string body =
      c.binary ? BinaryBody(c.request_shape, x, &header) : JsonBody(c.request_shape, x);
  const modelgrid::HostTensorView view{"INPUT__0", modelgrid::TensorDType::kFp32, c.request_shape,
                                       reinterpret_cast<const uint8_t*>(x.data()),
                                       x.size() * sizeof(float)};
  auto infer_once = [&] { return (*instance)->Infer({view}).ok(); };

  // The served copy: a one-model repository.
  const fs::path repo = fs::temp_directory_path() / ("mg_serve_bench_" + std::to_string(getpid()));
  fs::remove_all(repo);
  fs::create_directories(repo / c.name / "1");
  fs::copy_file(model, repo / c.name / "1" / "model.pt");
  std::ofstream(repo / c.name / "config.pbtxt")
      << "platform: \"pytorch_libtorch\"\nmax_batch_size: 8\n"
         "input [ { name: \"INPUT__0\" data_type: TYPE_FP32 dims: [ "
      << c.config_dims
      << " ] } ]\n"
         "output [ { name: \"OUTPUT__0\" data_type: TYPE_FP32 dims: [ "
      << c.config_dims << " ] } ]\n";
  Server server = StartServer(repo.string(), (repo / "footprints.json").string(), http_threads,
                              device == "cpu" ? "cpu" : "auto", host_policies, server_cpus);
  if (server.port == 0) {
    std::fprintf(stderr, "modelgrid serve did not start\n");
    return false;
  }
  const std::string path = "/v2/models/" + c.name + "/infer";

  // Latency, one client: the in-process call, then HTTP, each alone, back to back.
  const int n = 3000;
  std::vector<double> local, served;
  for (int i = 0; i < 200; ++i) infer_once();
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    infer_once();
    local.push_back(Micros(Clock::now() - t0));
  }
  CostPerRequest http_cost;
  Connection http_conn(server.port);
  auto http_once = [&] { return http_conn.Post(path, body, header) == 200; };
  {
    for (int i = 0; i < 200; ++i) http_once();
    const ServingCost before = ServingCostOf(server.pid);
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      if (!http_once()) std::fprintf(stderr, "non-200\n");
      served.push_back(Micros(Clock::now() - t0));
    }
    http_cost = PerRequest(before, ServingCostOf(server.pid), n);
  }
  const double lp50 = Percentile(local, 0.5), sp50 = Percentile(served, 0.5);
  std::printf("%s (%s) on %s\n", c.name.c_str(), c.describe.c_str(), device.c_str());
  for (const std::string& policy : host_policies) {
    std::printf("the worker runs with --host-policy %s\n", policy.c_str());
  }
  if (!server_cpus.empty()) {
    std::printf("the server runs on cores %s\n", modelgrid::FormatCpuList(server_cpus).c_str());
  }
  std::printf("latency, 1 client, %d requests:\n", n);
  std::printf("  in-process LibTorch call  p50 %8.1f us  p99 %8.1f us\n", lp50,
              Percentile(local, 0.99));
  std::printf("  HTTP + IPC + worker       p50 %8.1f us  p99 %8.1f us\n", sp50,
              Percentile(served, 0.99));
  std::printf("  serving overhead at p50: %.1f us (%.2fx the in-process call)\n", sp50 - lp50,
              sp50 / lp50);
  std::printf(
      "  threads woken per request (context switches of the server and its worker): HTTP "
      "%.1f\n",
      http_cost.switches);
  std::printf("  CPU per request: server %.1f us, worker %.1f us (%.2fx the in-process call)\n",
              http_cost.server_cpu_us, http_cost.worker_cpu_us, http_cost.worker_cpu_us / lp50);

#ifdef MODELGRID_HAVE_GRPC
  // gRPC beside HTTP, with gRPC C++'s client and with the raw HTTP/2 one. The three take
  // turns, a block of requests each, so that the host's drift (this VM's speed moves by tens
  // of percent from one minute to the next) falls on all of them alike.
  const bool grpc = c.binary && server.grpc_port > 0;
  const inference::ModelInferRequest grpc_request = InferRequest(c.name, c.request_shape, x);
  if (grpc) {
    GrpcConnection grpc_conn(server.grpc_port, grpc_request);
    RawGrpcConnection raw_conn(server.grpc_port, grpc_request);
    struct Way {
      const char* label;
      std::function<bool()> once;  // one request; false when it failed
      std::vector<double> us;      // its latencies
      CostPerRequest cost;         // threads woken and CPU per request, measured alone
    };
    std::vector<Way> ways;
    ways.push_back({"HTTP binary", http_once, {}, http_cost});
    ways.push_back({"gRPC, gRPC C++ client", [&] { return grpc_conn.Infer(); }, {}, {}});
    ways.push_back({"gRPC, raw HTTP/2 client", [&] { return raw_conn.Infer(); }, {}, {}});
    for (size_t k = 1; k < ways.size(); ++k) {
      for (int i = 0; i < 200; ++i) ways[k].once();
      const ServingCost before = ServingCostOf(server.pid);
      for (int i = 0; i < 1000; ++i) ways[k].once();
      ways[k].cost = PerRequest(before, ServingCostOf(server.pid), 1000);
    }
    const int block = 100;  // back to back within a block; 1 in 100 follows another way's
    for (int i = 0; i < n; i += block) {
      for (Way& way : ways) {
        for (int j = 0; j < block; ++j) {
          const auto t0 = Clock::now();
          if (!way.once()) std::fprintf(stderr, "%s: request failed\n", way.label);
          way.us.push_back(Micros(Clock::now() - t0));
        }
      }
    }
    const double hp50 = Percentile(ways[0].us, 0.5);
    std::printf("gRPC beside HTTP, %d requests each, in turns of %d:\n", n, block);
    for (const Way& way : ways) {
      const double p50 = Percentile(way.us, 0.5);
      std::printf("  %-24s p50 %8.1f us  p99 %8.1f us  overhead %6.1f us (%.2fx HTTP's)", way.label,
                  p50, Percentile(way.us, 0.99), p50 - lp50,
                  (p50 - lp50) / std::max(hp50 - lp50, 0.1));
      std::printf("  threads woken %.1f  server CPU %.1f us\n", way.cost.switches,
                  way.cost.server_cpu_us);
    }
  }
#else
  const bool grpc = false;
#endif
  std::printf("\n");

  // Throughput at increasing concurrency. Each level's time is cut into turns, and the ways
  // (in-process, HTTP, gRPC's two clients) take their turns in rotation, for the same reason
  // as the latencies: the host's drift falls on all of them alike.
  const int turns = 4;
  std::printf("throughput (%.1f s per level and way, in %d turns):\n  %-11s %14s %14s %8s", seconds,
              turns, "concurrency", "in-process/s", "served/s", "ratio");
  if (grpc) std::printf(" %14s %8s %14s %8s", "gRPC/s", "ratio", "raw gRPC/s", "ratio");
  std::printf("\n");
  for (int level = 1; level <= 64; level *= 2) {
    // 0: in-process, 1: HTTP, 2: gRPC (gRPC C++'s client), 3: gRPC (the raw client). Returns
    // the requests completed in `window` seconds, counted once every client is connected.
    auto run = [&](int how, double window) {
      std::atomic<long> done{0};
      std::atomic<int> ready{0};
      std::atomic<bool> go{false}, stop{false};
      std::vector<std::thread> threads;
      for (int t = 0; t < level; ++t) {
        threads.emplace_back([&] {
          std::unique_ptr<Connection> conn;
          if (how == 1) conn = std::make_unique<Connection>(server.port);
#ifdef MODELGRID_HAVE_GRPC
          std::unique_ptr<GrpcConnection> rpc;
          std::unique_ptr<RawGrpcConnection> raw;
          if (how == 2) rpc = std::make_unique<GrpcConnection>(server.grpc_port, grpc_request);
          if (how == 3) raw = std::make_unique<RawGrpcConnection>(server.grpc_port, grpc_request);
#endif
          ++ready;
          while (!go) std::this_thread::yield();
          while (!stop) {
#ifdef MODELGRID_HAVE_GRPC
            done += how == 0   ? infer_once()
                    : how == 1 ? conn->Post(path, body, header) == 200
                    : how == 2 ? rpc->Infer()
                               : raw->Infer();
#else
            done += how == 0 ? infer_once() : conn->Post(path, body, header) == 200;
#endif
          }
        });
      }
      while (ready < level) std::this_thread::yield();
      go = true;
      std::this_thread::sleep_for(std::chrono::duration<double>(window));
      stop = true;
      for (auto& t : threads) t.join();
      return static_cast<double>(done);
    };
    const int ways_here = grpc ? 4 : 2;
    double rate[4] = {0, 0, 0, 0};
    for (int turn = 0; turn < turns; ++turn) {
      for (int how = 0; how < ways_here; ++how) rate[how] += run(how, seconds / turns) / seconds;
    }
    const double l = rate[0], s = rate[1];
    std::printf("  %-11d %14.0f %14.0f %7.2fx", level, l, s, s / l);
    if (grpc)
      std::printf(" %14.0f %7.2fx %14.0f %7.2fx", rate[2], rate[2] / l, rate[3], rate[3] / l);
    std::printf("\n");
  }
  std::printf("\n");
  ::kill(server.pid, SIGTERM);
  ::waitpid(server.pid, nullptr, 0);
  fs::remove_all(repo);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.5;
  std::string only;
  std::string http_threads = "0";
  std::string device = "cpu";
  std::vector<std::string> host_policies;
  std::vector<int> server_cpus;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--server-cpus") {
      auto list = modelgrid::ParseCpuList(argv[i + 1]);
      if (!list.ok()) {
        std::fprintf(stderr, "--server-cpus %s: %s\n", argv[i + 1],
                     list.status().message().c_str());
        return 2;
      }
      server_cpus = std::move(*list);
    }
    if (std::string(argv[i]) == "--host-policy") host_policies.push_back(argv[i + 1]);
    if (std::string(argv[i]) == "--seconds-per-level") seconds = std::atof(argv[i + 1]);
    if (std::string(argv[i]) == "--model") only = argv[i + 1];
    if (std::string(argv[i]) == "--http-threads") http_threads = argv[i + 1];
    if (std::string(argv[i]) == "--device") device = argv[i + 1];
  }
#ifdef MODELGRID_HAVE_GRPC
  // The gRPC client as the served one runs: without Debian abseil's lock-order checks.
  modelgrid::rpc::TurnOffAbseilDeadlockDetection();
#endif
  for (const Case& c : Cases()) {
    if (!only.empty() && c.name != only) continue;
    if (!RunCase(c, seconds, http_threads, device, host_policies, server_cpus)) return 1;
  }
  return 0;
}
