// ProcessManager: starts worker processes, notices at once when one exits (pidfd + epoll),
// and restarts it with exponential backoff.
//
// Workers are started with PR_SET_PDEATHSIG(SIGKILL), so they never outlive the server
// even when it is killed with -9. Thread-safe: every method may be called from any thread;
// callbacks run on the manager's watcher thread and must not block for long.
#pragma once

#include <signal.h>

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "serve/host_policy.h"

namespace modelgrid {

// What to run for one worker start.
struct WorkerCommand {
  std::vector<std::string> argv;  // argv[0] is the executable path
  std::vector<int> inherit_fds;   // descriptors the child keeps (FD_CLOEXEC cleared)
  // Descriptors made for this start alone (of inherit_fds): the parent closes its copies
  // once the child has them, or when the start fails.
  std::vector<int> close_after_spawn;
  HostBinding binding;  // where on the host the child runs (serve/host_policy.h)
};

// The exit code of a child that could not be bound as WorkerCommand::binding asked (it
// says why on stderr).
inline constexpr int kBindingFailedExitCode = 126;

struct RestartPolicy {
  bool restart = true;  // restart workers that exit while wanted
  uint32_t initial_backoff_ms = 100;
  uint32_t max_backoff_ms = 10'000;
  // A worker that ran this long before exiting restarts with the initial backoff again.
  uint32_t stable_after_ms = 30'000;
  // Workers ignore SIGINT, SIGTERM and SIGHUP, which a terminal's Ctrl-C, `kill -- -PGID`
  // or systemd's KillMode=control-group send to every process of the server: the server
  // drains its requests and then stops its workers itself, with `stop_signal`.
  bool shield_from_group_signals = false;
  // What Stop sends first (SIGKILL follows after the grace period).
  int stop_signal = SIGTERM;
};

class ProcessManager {
 public:
  // Builds the command for a (re)start of worker `name`: called before every start, so
  // the caller can create fresh resources (a new shared-memory segment) each time.
  using CommandFactory = std::function<Result<WorkerCommand>(const std::string& name)>;
  // Called after a worker exited (exit_code/exit_status as waitid si_code/si_status) and before
  // any restart. `will_restart` says whether a restart is scheduled.
  using ExitCallback = std::function<void(const std::string& name, pid_t pid, int exit_code,
                                          int exit_status, bool will_restart)>;
  // Called after every successful start, with the new pid.
  using StartCallback = std::function<void(const std::string& name, pid_t pid)>;

  ProcessManager(RestartPolicy policy, ExitCallback on_exit, StartCallback on_start = nullptr);
  // Stops every worker (SIGTERM, then SIGKILL after 2 s) and joins the watcher.
  ~ProcessManager();
  ProcessManager(const ProcessManager&) = delete;
  ProcessManager& operator=(const ProcessManager&) = delete;

  // Starts worker `name` now; fails if the name is running or the start fails.
  Result<pid_t> Start(const std::string& name, CommandFactory factory);
  // Stops a worker for good: SIGTERM, SIGKILL after `grace_ms`; waits until it is reaped.
  Status Stop(const std::string& name, uint32_t grace_ms);
  // Sends SIGKILL (a worker that stopped answering); it restarts per the policy.
  Status Kill(const std::string& name);
  // From now on no worker is restarted, whatever the policy: the server is shutting down.
  // Idempotent.
  void DisableRestarts();

  // The running pid, or -1.
  pid_t Pid(const std::string& name) const;
  // How many times `name` was restarted after an exit.
  uint32_t Restarts(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  struct Worker {
    CommandFactory factory;
    pid_t pid = -1;
    int pidfd = -1;
    bool wanted = true;
    uint32_t restarts = 0;
    uint32_t backoff_ms = 0;
    uint64_t started_ms = 0;
    uint64_t restart_at_ms = 0;  // 0: no restart pending
  };

  Status Spawn(const std::string& name, Worker& worker) REQUIRES(mu_);
  // Whether worker `name` still runs as `pid` (not reaped yet).
  bool Running(const std::string& name, pid_t pid) const REQUIRES(mu_);
  void WatchLoop();
  void Wake();

  const RestartPolicy policy_;
  const ExitCallback on_exit_;
  const StartCallback on_start_;
  mutable Mutex mu_;
  CondVar reaped_;  // a worker was reaped
  std::map<std::string, Worker> workers_ GUARDED_BY(mu_);
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> restarts_disabled_{false};
  std::thread watcher_;
};

}  // namespace modelgrid
