#include "serve/process_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "ipc/heartbeat.h"

namespace modelgrid {

namespace {

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Says on stderr, in a forked child (async-signal-safe: no allocation, no stdio), that
// the host policy could not be applied: "modelgrid: worker host policy: CALL failed (errno N)".
void WriteBindingFailure(const char* call, int error) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + error % 10);
    error /= 10;
  } while (error > 0 && n < 15);
  char line[128];
  size_t len = 0;
  auto put = [&](const char* s) {
    while (*s != '\0' && len < sizeof line) line[len++] = *s++;
  };
  put("modelgrid: worker host policy: ");
  put(call);
  put(" failed (errno ");
  while (n > 0 && len < sizeof line) line[len++] = digits[--n];
  put(")\n");
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line, len);
}

}  // namespace

ProcessManager::ProcessManager(RestartPolicy policy, ExitCallback on_exit, StartCallback on_start)
    : policy_(policy), on_exit_(std::move(on_exit)), on_start_(std::move(on_start)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  watcher_ = std::thread([this] { WatchLoop(); });
}

ProcessManager::~ProcessManager() {
  for (const auto& name : Names()) (void)Stop(name, 2000);  // only NotFound, for a name just gone
  stopping_ = true;
  Wake();
  if (watcher_.joinable()) watcher_.join();
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void ProcessManager::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

Status ProcessManager::Spawn(const std::string& name, Worker& worker) {
  auto command = worker.factory(name);
  if (!command.ok()) return command.status().WithContext("worker " + name);
  // Whatever happens below, the parent's copies of this start's own descriptors go.
  struct CloseAfter {
    std::vector<int> fds;
    ~CloseAfter() {
      for (int fd : fds) ::close(fd);
    }
  } close_after{command->close_after_spawn};
  if (command->argv.empty()) return InvalidArgument("worker " + name + ": empty command");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls are allowed.
  std::vector<char*> argv;
  for (auto& a : command->argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  const PreparedHostBinding binding(command->binding);
  const pid_t parent = ::getpid();
  const bool shield = policy_.shield_from_group_signals;
  const pid_t pid = ::fork();
  if (pid < 0) return Internal("fork failed: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    // The server blocks SIGINT/SIGTERM to take them synchronously and ignores SIGPIPE;
    // masks and ignored dispositions survive exec, so a worker starts with clean ones.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (shield) {
      ::signal(SIGINT, SIG_IGN);
      ::signal(SIGTERM, SIG_IGN);
      ::signal(SIGHUP, SIG_IGN);
    }
    for (int fd : command->inherit_fds) ::fcntl(fd, F_SETFD, 0);
    const char* failed_call = nullptr;
    if (const int error = binding.Apply(&failed_call); error != 0) {
      WriteBindingFailure(failed_call, error);
      ::_exit(kBindingFailedExitCode);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Internal("pidfd_open failed: " + std::string(std::strerror(errno)));
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  worker.pid = pid;
  worker.pidfd = pidfd;
  worker.started_ms = ipc::MonotonicNowMs();
  worker.restart_at_ms = 0;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = pidfd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev);
  return Status::Ok();
}

Result<pid_t> ProcessManager::Start(const std::string& name, CommandFactory factory) {
  pid_t pid;
  {
    MutexLock lock(&mu_);
    auto [it, inserted] = workers_.try_emplace(name);
    if (!inserted && it->second.pid > 0) return InvalidArgument("worker " + name + " is running");
    it->second.factory = std::move(factory);
    it->second.wanted = true;
    it->second.backoff_ms = policy_.initial_backoff_ms;
    Status st = Spawn(name, it->second);
    if (!st.ok()) {
      workers_.erase(it);
      return st;
    }
    pid = it->second.pid;
  }
  if (on_start_) on_start_(name, pid);
  return pid;
}

Status ProcessManager::Stop(const std::string& name, uint32_t grace_ms) {
  MutexLock lock(&mu_);
  auto it = workers_.find(name);
  if (it == workers_.end()) return NotFound("no worker " + name);
  it->second.wanted = false;
  it->second.restart_at_ms = 0;
  const pid_t pid = it->second.pid;
  if (pid > 0) {
    ::kill(pid, policy_.stop_signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    bool killed = false;
    while (Running(name, pid)) {
      const auto now = std::chrono::steady_clock::now();
      if (!killed && now >= deadline) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
      if (killed) {
        reaped_.Wait(&mu_);
      } else {
        reaped_.WaitFor(&mu_, deadline - now);
      }
    }
  }
  workers_.erase(name);
  return Status::Ok();
}

bool ProcessManager::Running(const std::string& name, pid_t pid) const {
  auto w = workers_.find(name);
  return w != workers_.end() && w->second.pid == pid;
}

void ProcessManager::DisableRestarts() { restarts_disabled_ = true; }

Status ProcessManager::Kill(const std::string& name) {
  MutexLock lock(&mu_);
  auto it = workers_.find(name);
  if (it == workers_.end() || it->second.pid <= 0) return NotFound("no running worker " + name);
  ::kill(it->second.pid, SIGKILL);
  return Status::Ok();
}

pid_t ProcessManager::Pid(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = workers_.find(name);
  return it == workers_.end() ? -1 : it->second.pid;
}

uint32_t ProcessManager::Restarts(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = workers_.find(name);
  return it == workers_.end() ? 0 : it->second.restarts;
}

std::vector<std::string> ProcessManager::Names() const {
  MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, w] : workers_) names.push_back(name);
  return names;
}

void ProcessManager::WatchLoop() {
  while (!stopping_) {
    // Sleep until a child exits, a control wake-up, or the next scheduled restart.
    int timeout_ms = -1;
    {
      MutexLock lock(&mu_);
      const uint64_t now = ipc::MonotonicNowMs();
      for (const auto& [name, w] : workers_) {
        if (w.restart_at_ms == 0) continue;
        const int wait = w.restart_at_ms > now ? static_cast<int>(w.restart_at_ms - now) : 0;
        timeout_ms = timeout_ms < 0 ? wait : std::min(timeout_ms, wait);
      }
    }
    epoll_event events[16];
    const int n = ::epoll_wait(epoll_fd_, events, 16, timeout_ms);
    struct Exit {
      std::string name;
      pid_t pid;
      int code, status;
      bool restart;
    };
    std::vector<Exit> exits;
    std::vector<std::pair<std::string, pid_t>> starts;
    {
      MutexLock lock(&mu_);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) {
          uint64_t v;
          [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
          continue;
        }
        for (auto& [name, w] : workers_) {
          if (w.pidfd != fd) continue;
          siginfo_t info{};
          ::waitid(P_PIDFD, static_cast<id_t>(fd), &info, WEXITED);
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
          ::close(fd);
          const uint64_t now = ipc::MonotonicNowMs();
          const bool restart = w.wanted && policy_.restart && !stopping_ && !restarts_disabled_;
          if (restart) {
            if (now - w.started_ms >= policy_.stable_after_ms) {
              w.backoff_ms = policy_.initial_backoff_ms;
            }
            w.restart_at_ms = now + w.backoff_ms;
            w.backoff_ms = std::min(policy_.max_backoff_ms, std::max(1u, w.backoff_ms) * 2);
          }
          exits.push_back({name, w.pid, info.si_code, info.si_status, restart});
          w.pid = -1;
          w.pidfd = -1;
          break;
        }
      }
      const uint64_t now = ipc::MonotonicNowMs();
      for (auto& [name, w] : workers_) {
        if (w.restart_at_ms == 0 || w.restart_at_ms > now || w.pid > 0 || !w.wanted ||
            restarts_disabled_) {
          continue;
        }
        Status st = Spawn(name, w);
        if (st.ok()) {
          w.restarts += 1;
          starts.push_back({name, w.pid});
        } else {
          w.restart_at_ms = now + w.backoff_ms;  // try again later
          w.backoff_ms = std::min(policy_.max_backoff_ms, w.backoff_ms * 2);
        }
      }
    }
    reaped_.NotifyAll();
    for (const auto& e : exits) {
      if (on_exit_) on_exit_(e.name, e.pid, e.code, e.status, e.restart);
    }
    for (const auto& [name, pid] : starts) {
      if (on_start_) on_start_(name, pid);
    }
  }
}

}  // namespace modelgrid
