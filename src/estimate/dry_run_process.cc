#include "estimate/dry_run_process.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "common/mutex.h"
#include "common/sanitizers.h"

namespace modelgrid {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int StatusCodeNumber(StatusCode code) { return static_cast<int>(code); }

StatusCode StatusCodeFromNumber(int n) {
  if (n <= static_cast<int>(StatusCode::kOk) || n > static_cast<int>(StatusCode::kInternal)) {
    return StatusCode::kInternal;
  }
  return static_cast<StatusCode>(n);
}

// Reads everything the child prints until it closes stdout, the deadline passes or the
// output passes `max_bytes`. False on the deadline or the size limit.
bool ReadOutput(int fd, Clock::time_point deadline, uint64_t max_bytes, std::string* out,
                std::string* why) {
  char chunk[65536];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      *why = "timed out";
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), INT_MAX)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline check above ends it
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out->append(chunk, static_cast<size_t>(n));
    if (out->size() > max_bytes) {
      *why = "printed more than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
  }
}

// A sandboxed child: its pid, the read end of its stdout and, when it takes its input on
// stdin, the write end of that (-1 otherwise: its stdin is /dev/null).
struct Child {
  pid_t pid = -1;
  int out = -1;
  int in = -1;
};

// Starts `sandbox.worker_executable args...` as the sandboxed child.
Result<Child> Spawn(const DryRunSandbox& sandbox, const std::vector<std::string>& args,
                    bool with_stdin, const std::string& what) {
  std::vector<std::string> command = {sandbox.worker_executable};
  command.insert(command.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : command) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Internal(what + ": pipe failed: " + std::strerror(errno));
  }
  int in_fds[2] = {-1, -1};
  if (with_stdin && ::pipe2(in_fds, O_CLOEXEC) != 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return Internal(what + ": pipe failed: " + std::strerror(errno));
  }
  const rlimit memory{sandbox.memory_bytes, sandbox.memory_bytes};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {pipe_fds[0], pipe_fds[1], in_fds[0], in_fds[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return Internal(what + ": fork failed: " + std::strerror(errno));
  }
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    const int input = in_fds[0] >= 0 ? in_fds[0] : ::open("/dev/null", O_RDONLY);
    if (input >= 0) ::dup2(input, STDIN_FILENO);
    // Nothing of the parent's but stdio: not its listening socket, client connections or
    // worker segments (a child holding a socket would keep a client's connection open).
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    if (!kAddressSanitizer) ::setrlimit(RLIMIT_DATA, &memory);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  if (in_fds[0] >= 0) ::close(in_fds[0]);
  return Child{pid, pipe_fds[0], in_fds[1]};
}

// Waits for `child`'s answer (from now, up to the sandbox's deadline), reaps it and reads
// the answer as RunSandboxedJson says.
Result<json> Collect(const DryRunSandbox& sandbox, const Child& child, const std::string& what) {
  if (child.in >= 0) ::close(child.in);
  std::string output, why;
  const bool complete =
      ReadOutput(child.out, Clock::now() + std::chrono::milliseconds(sandbox.timeout_ms),
                 sandbox.max_output_bytes, &output, &why);
  ::close(child.out);
  const pid_t pid = child.pid;
  if (!complete) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!complete) {
    return InvalidArgument(what + " " + why + " (limit " +
                           std::to_string(sandbox.timeout_ms / 1000) + " s)");
  }
  if (WIFSIGNALED(status)) {
    return InvalidArgument(what + " crashed (signal " + std::to_string(WTERMSIG(status)) +
                           "; memory limit " + std::to_string(sandbox.memory_bytes >> 20) +
                           " MiB)");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return Status(StatusCode::kUnavailable,
                  what + ": cannot run " + sandbox.worker_executable +
                      " (build modelgrid-worker, or set MODELGRID_WORKER)");
  }
  json answer = json::parse(output, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return Internal(what + ": the worker printed no JSON answer (exit status " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  if (auto error = answer.find("error"); error != answer.end()) {
    const json number = answer.value("code", json());
    const int code =
        number.is_number_integer() ? number.get<int>() : static_cast<int>(StatusCode::kInternal);
    return Status(StatusCodeFromNumber(code),
                  error->is_string() ? error->get<std::string>() : what + " failed");
  }
  return answer;
}

// Writes all of `text` to `fd`; false when the reader is gone.
bool WriteAll(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// One dry-run child started ahead of its request (`dry-run --request -`), so that a dry run
// does not wait for a process start and LibTorch's load. Thread-safe.
class SpareChild {
 public:
  explicit SpareChild(DryRunSandbox sandbox) : sandbox_(std::move(sandbox)) {}
  ~SpareChild() {
    MutexLock lock(&mu_);
    if (spare_) Discard(*spare_);
  }

  Result<DryRunResult> Run(const DryRunOptions& options) {
    const std::string what = "dry run of " + options.path;
    std::optional<Child> child = Take();
    if (!child) {
      MG_ASSIGN_OR_RETURN(Child cold, Spawn(sandbox_, kArgs, true, what));
      child = cold;
    }
    // SIGPIPE is ignored by the server; a child that died early reads as no answer.
    WriteAll(child->in, DryRunOptionsToJson(options).dump());
    Result<json> answer = Collect(sandbox_, *child, what);
    Refill();
    if (!answer.ok()) return answer.status();
    return DryRunResultFromJson(*answer);
  }

 private:
  static inline const std::vector<std::string> kArgs = {"dry-run", "--request", "-"};

  std::optional<Child> Take() {
    MutexLock lock(&mu_);
    std::optional<Child> out;
    out.swap(spare_);
    return out;
  }
  void Refill() {
    MutexLock lock(&mu_);
    if (spare_) return;
    auto child = Spawn(sandbox_, kArgs, true, "a spare dry-run child");
    if (child.ok()) spare_ = *child;
  }
  static void Discard(const Child& child) {
    ::close(child.in);
    ::close(child.out);
    ::kill(child.pid, SIGKILL);
    while (::waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }

  const DryRunSandbox sandbox_;
  Mutex mu_;
  std::optional<Child> spare_ GUARDED_BY(mu_);
};

}  // namespace

Result<json> RunSandboxedJson(const DryRunSandbox& sandbox, const std::vector<std::string>& args,
                              const std::string& what) {
  MG_ASSIGN_OR_RETURN(Child child, Spawn(sandbox, args, false, what));
  return Collect(sandbox, child, what);
}

DryRunner WarmSandboxedDryRunner(DryRunSandbox sandbox) {
  auto spare = std::make_shared<SpareChild>(std::move(sandbox));
  return [spare](const DryRunOptions& options) { return spare->Run(options); };
}

DryRunner SandboxedDryRunner(DryRunSandbox sandbox) {
  return [sandbox = std::move(sandbox)](const DryRunOptions& options) -> Result<DryRunResult> {
    MG_ASSIGN_OR_RETURN(
        json answer,
        RunSandboxedJson(sandbox, {"dry-run", "--request", DryRunOptionsToJson(options).dump()},
                         "dry run of " + options.path));
    return DryRunResultFromJson(answer);
  };
}

std::string DefaultWorkerExecutable() {
  if (const char* env = std::getenv("MODELGRID_WORKER"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "modelgrid-worker";
  return (self.parent_path() / "modelgrid-worker").string();
}

int ServeSandboxedAnswer(const std::function<Result<json>()>& answer) {
  // Whatever the model prints (TorchScript keeps print(), Python print()) goes to stderr:
  // stdout carries the answer alone.
  std::fflush(stdout);
  const int answer_fd = ::dup(STDOUT_FILENO);
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
  Result<json> result = answer();
  const json out = result.ok() ? *result
                               : json{{"error", result.status().message()},
                                      {"code", StatusCodeNumber(result.status().code())}};
  const std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace);
  std::fflush(stdout);
  if (!WriteAll(answer_fd, text)) return 3;
  ::close(answer_fd);
  return 0;
}

int ServeDryRunRequest(const std::string& request, const DryRunner& run) {
  const json parsed = json::parse(request, nullptr, false);
  Result<DryRunOptions> options = parsed.is_discarded()
                                      ? Result<DryRunOptions>(InvalidArgument("dry run: bad JSON"))
                                      : DryRunOptionsFromJson(parsed);
  const int code = ServeSandboxedAnswer([&]() -> Result<json> {
    if (!options.ok()) return options.status();
    MG_ASSIGN_OR_RETURN(DryRunResult result, run(*options));
    return DryRunResultToJson(result);
  });
  return code != 0 ? code : options.ok() ? 0 : 2;
}

}  // namespace modelgrid
