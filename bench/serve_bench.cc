// Serving overhead: a tiny TorchScript model (x + 1 on 4 floats) through HTTP + shared-
// memory IPC + a worker process, against the same model called in-process through the
// LibTorch backend, measured in the same run.
//
//   build/bench/serve_bench [--seconds-per-level 1.5]
//
// Prints p50/p99 latency of one client (keep-alive) and the ratio to the in-process call,
// then throughput at concurrency 1..64 against in-process threads sharing one instance.
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
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// A minimal keep-alive HTTP/1.1 client for one connection.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Connection() { ::close(fd_); }

  // Sends one POST and reads the reply; returns the HTTP status (0 on failure).
  int Post(const std::string& path, const std::string& body) {
    if (!ok_) return 0;
    std::string req = "POST " + path +
                      " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
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

const char* kBody =
    R"({"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]})";

struct Server {
  pid_t pid = -1;
  int port = 0;
};

Server StartServer(const std::string& repo, const std::string& footprints) {
  int out[2];
  if (::pipe(out) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl(MODELGRID_BINARY, MODELGRID_BINARY, "serve", repo.c_str(), "--port", "0",
            "--footprints", footprints.c_str(), "--http-threads", "4", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  Server s{pid, 0};
  std::string text;
  char c;
  while (::read(out[0], &c, 1) == 1) {
    text += c;
    const size_t at = text.find("serving KServe v2 on http://127.0.0.1:");
    if (at != std::string::npos && c == '\n') {
      s.port = std::atoi(text.c_str() + at + 38);
      break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds-per-level") seconds = std::atof(argv[i + 1]);
  }
  const std::string model = std::string(MODELGRID_SOURCE_DIR) + "/.fixtures/serve/add_one.pt";
  if (!fs::exists(model)) {
    std::fprintf(stderr, "missing %s: run scripts/make-fixtures.sh\n", model.c_str());
    return 1;
  }
  // In-process baseline: the backend the worker uses, in this process.
  modelgrid::ModelInstanceConfig config;
  config.path = model;
  config.device = "cpu";
  config.max_batch_size = 8;
  config.inputs = {{"INPUT__0", modelgrid::TensorDType::kFp32, {-1}}};
  auto backend = modelgrid::CreateTorchBackend();
  auto instance = backend->Load(config);
  if (!instance.ok()) {
    std::fprintf(stderr, "load: %s\n", instance.status().ToString().c_str());
    return 1;
  }
  const float x[4] = {1, 2, 3, 4};
  const modelgrid::HostTensorView view{"INPUT__0",
                                       modelgrid::TensorDType::kFp32,
                                       {1, 4},
                                       reinterpret_cast<const uint8_t*>(x),
                                       sizeof x};
  auto infer_once = [&] { return (*instance)->Infer({view}).ok(); };

  // The served copy: a one-model repository.
  const fs::path repo = fs::temp_directory_path() / ("mg_serve_bench_" + std::to_string(getpid()));
  fs::create_directories(repo / "add_one" / "1");
  fs::copy_file(model, repo / "add_one" / "1" / "model.pt");
  std::ofstream(repo / "add_one" / "config.pbtxt")
      << "platform: \"pytorch_libtorch\"\nmax_batch_size: 8\n"
         "input [ { name: \"INPUT__0\" data_type: TYPE_FP32 dims: [ -1 ] } ]\n"
         "output [ { name: \"OUTPUT__0\" data_type: TYPE_FP32 dims: [ -1 ] } ]\n";
  Server server = StartServer(repo.string(), (repo / "footprints.json").string());
  if (server.port == 0) {
    std::fprintf(stderr, "modelgrid serve did not start\n");
    return 1;
  }

  // Latency, one client.
  const int n = 3000;
  std::vector<double> local, served;
  for (int i = 0; i < 200; ++i) infer_once();
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    infer_once();
    local.push_back(Micros(Clock::now() - t0));
  }
  {
    Connection conn(server.port);
    for (int i = 0; i < 200; ++i) conn.Post("/v2/models/add_one/infer", kBody);
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      if (conn.Post("/v2/models/add_one/infer", kBody) != 200) std::fprintf(stderr, "non-200\n");
      served.push_back(Micros(Clock::now() - t0));
    }
  }
  const double lp50 = Percentile(local, 0.5), sp50 = Percentile(served, 0.5);
  std::printf("latency, 1 client, %d requests (x + 1 on 4 floats):\n", n);
  std::printf("  in-process LibTorch call  p50 %8.1f us  p99 %8.1f us\n", lp50,
              Percentile(local, 0.99));
  std::printf("  HTTP + IPC + worker       p50 %8.1f us  p99 %8.1f us\n", sp50,
              Percentile(served, 0.99));
  std::printf("  serving overhead at p50: %.1f us (%.1fx the in-process call)\n\n", sp50 - lp50,
              sp50 / lp50);

  // Throughput at increasing concurrency.
  std::printf("throughput (%.1f s per level):\n  %-11s %14s %14s %8s\n", seconds, "concurrency",
              "in-process/s", "served/s", "ratio");
  for (int c = 1; c <= 64; c *= 2) {
    auto run = [&](bool remote) {
      std::atomic<long> done{0};
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int t = 0; t < c; ++t) {
        threads.emplace_back([&] {
          std::unique_ptr<Connection> conn;
          if (remote) conn = std::make_unique<Connection>(server.port);
          while (!stop) {
            const bool ok =
                remote ? conn->Post("/v2/models/add_one/infer", kBody) == 200 : infer_once();
            done += ok;
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      stop = true;
      for (auto& t : threads) t.join();
      return static_cast<double>(done) / seconds;
    };
    const double l = run(false), s = run(true);
    std::printf("  %-11d %14.0f %14.0f %7.2fx\n", c, l, s, s / l);
  }
  ::kill(server.pid, SIGTERM);
  ::waitpid(server.pid, nullptr, 0);
  fs::remove_all(repo);
  return 0;
}
