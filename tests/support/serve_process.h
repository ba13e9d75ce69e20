// Runs `modelgrid serve` as a child process for end-to-end tests, and looks at its workers
// through /proc.
//
// Start() forks and execs the server (it dies with the test binary: PR_SET_PDEATHSIG),
// sends its stderr to a log file and reads its stdout until the "serving KServe v2 on"
// line, which gives the port. Stop() signals it and checks, bounded in time, that it
// exits (status 0 unless killed) and that none of its workers outlives it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace modelgrid::testing {

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Proc {
  pid_t pid = 0;
  std::string cmdline;  // arguments joined with spaces
};

// Live (non-zombie) processes whose parent is `parent`, from /proc.
inline std::vector<Proc> ChildrenOf(pid_t parent) {
  std::vector<Proc> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadWholeFile("/proc/" + name + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    std::string state;
    long ppid = 0;
    fields >> state >> ppid;
    if (ppid != parent || state == "Z") continue;
    std::string cmdline = ReadWholeFile("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    out.push_back({static_cast<pid_t>(std::stol(name)), cmdline});
  }
  return out;
}

// The worker processes (`modelgrid worker --shm-fd ...`) of a server.
inline std::vector<Proc> WorkersOf(pid_t server) {
  std::vector<Proc> workers;
  for (auto& p : ChildrenOf(server)) {
    if (p.cmdline.find("--shm-fd") != std::string::npos) workers.push_back(std::move(p));
  }
  return workers;
}

// Whether `pid` is still a live worker process (not gone, not a zombie).
inline bool WorkerAlive(pid_t pid) {
  const std::string stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || stat.size() < paren + 3 || stat[paren + 2] == 'Z') {
    return false;
  }
  return ReadWholeFile("/proc/" + std::to_string(pid) + "/cmdline").find("--shm-fd") !=
         std::string::npos;
}

class ServeProcess {
 public:
  using Clock = std::chrono::steady_clock;

  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }

  // Starts `binary serve ARGS...` with stderr to `log_path`; "" on success, else why not.
  // gRPC is off unless ARGS give --grpc-port (tests run side by side: no fixed port).
  std::string Start(const std::string& binary, const std::vector<std::string>& serve_args,
                    const std::string& log_path,
                    std::chrono::seconds timeout = std::chrono::seconds(120)) {
    std::vector<std::string> args = {binary, "serve"};
    args.insert(args.end(), serve_args.begin(), serve_args.end());
    if (std::find(args.begin(), args.end(), "--grpc-port") == args.end()) {
      args.insert(args.end(), {"--grpc-port", "0"});
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return "pipe failed";
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) return "cannot create " + log_path;
    log_path_ = log_path;
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test binary
      if (::getppid() != parent) ::_exit(126);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(log_fd);
    pid_ = pid;
    stdout_fd_ = out[0];
    const auto deadline = Clock::now() + timeout;
    std::string text;
    const std::string marker = "serving KServe v2 on http://127.0.0.1:";
    while (true) {
      if (size_t at = text.find(marker); at != std::string::npos) {
        const size_t eol = text.find('\n', at);
        if (eol != std::string::npos) {
          port_ = static_cast<uint16_t>(std::stoi(text.substr(at + marker.size())));
          placement_ = text.substr(0, at);
          return port_ > 0 ? "" : "bad serving line: " + text.substr(at, eol - at);
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        Stop(SIGKILL);
        return "no serving line in time; stdout so far:\n" + text;
      }
      pollfd p{stdout_fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (ready < 0 && errno != EINTR) return "poll failed";
      if (ready <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = 0;
      return "the server exited before serving (status " + std::to_string(status) + "); stdout:\n" +
             text + "\nstderr:\n" + ReadWholeFile(log_path);
    }
  }

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& placement() const { return placement_; }  // stdout before serving
  std::string log() const { return ReadWholeFile(log_path_); }

  // Sends `signal`, waits (bounded) for the exit, and checks a clean exit with no worker
  // left behind. Does nothing once the server is gone.
  void Stop(int signal) {
    if (pid_ <= 0) return;
    const std::vector<Proc> workers = WorkersOf(pid_);
    ::kill(pid_, signal);
    WaitForExit(signal, workers);
  }

  // Waits for the server to exit after `signal` was sent; `workers` are its workers from
  // before the signal, none of which may outlive it.
  void WaitForExit(int signal, const std::vector<Proc>& workers) {
    if (pid_ <= 0) return;
    int status = 0;
    pid_t done = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (done == 0) {
      ADD_FAILURE() << "the server did not exit within 60 s of signal " << signal;
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    } else if (signal != SIGKILL) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "server exit status " << status << " (exited " << WIFEXITED(status) << ", code "
          << WEXITSTATUS(status) << ", signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0)
          << ")";
    }
    pid_ = 0;
    // A worker notices its server is gone (PR_SET_PDEATHSIG); give it a moment so that a
    // late exit is not misreported.
    for (const auto& w : workers) {
      const auto until = Clock::now() + std::chrono::seconds(5);
      while (WorkerAlive(w.pid) && Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      EXPECT_FALSE(WorkerAlive(w.pid))
          << "worker " << w.pid << " (" << w.cmdline << ") outlived the server";
      if (WorkerAlive(w.pid)) ::kill(w.pid, SIGKILL);
    }
  }

 private:
  pid_t pid_ = 0;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  std::string placement_;
  std::string log_path_;
};

}  // namespace modelgrid::testing
