// WorkerLauncher: the seam between the serving core and the outside world of processes
// (LevelDB's Env, for workers). The core asks it for a channel per worker, to start and
// stop the worker behind it, and hears back when a worker came up or exited. The real one
// starts `modelgrid-worker serve` processes (MakeProcessLauncher); the lifecycle tests put
// in-process fakes behind the same calls (tests/support/fake_workers.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/bls_server.h"
#include "serve/host_policy.h"
#include "serve/serve_options.h"
#include "serve/worker_channel.h"

namespace modelgrid {

// One worker as the launcher needs to know it.
struct WorkerSpec {
  std::string name;     // shown in logs; reused after a worker stops
  std::string process;  // the launcher's key, never reused ("name#N")
  int execution_threads = 1;
  HostBinding binding;  // its device's host policy
};

// Thread-safe: every method may be called from any thread.
class WorkerLauncher {
 public:
  // What the launcher reports, on a thread of its own; the callbacks must not block long.
  struct Events {
    // The worker `process` is up (a start or a restart), as `pid` (-1 when in-process).
    std::function<void(const std::string& process, pid_t pid)> started;
    // It exited (`exit_code`/`exit_status` as waitid's si_code/si_status); `will_restart`
    // says whether a restart follows.
    std::function<void(const std::string& process, int exit_code, int exit_status,
                       bool will_restart)>
        exited;
  };
  virtual ~WorkerLauncher() = default;

  // Called once, before the first Launch.
  virtual void SetEvents(Events events) = 0;
  // A channel for a new worker, kept across its restarts.
  virtual Result<std::unique_ptr<WorkerChannel>> Connect(const WorkerSpec& spec) = 0;
  // Starts the worker behind `channel` (made by Connect), restarting it after an exit
  // until Stop or DisableRestarts. Events::started follows once it runs.
  virtual Status Launch(const WorkerSpec& spec, WorkerChannel& channel) = 0;
  // Stops it for good: a stop request, a kill after `grace_ms`; returns once it is gone.
  virtual Status Stop(const std::string& process, uint32_t grace_ms) = 0;
  // Kills it at once (it stopped answering); it restarts per the policy.
  virtual Status Kill(const std::string& process) = 0;
  // From now on no worker restarts: the server is shutting down. Idempotent.
  virtual void DisableRestarts() = 0;
  // Its pid (-1 when not running or in-process) and how often it was restarted.
  virtual pid_t Pid(const std::string& process) const = 0;
  virtual uint32_t Restarts(const std::string& process) const = 0;
  // Every worker launched and not stopped.
  virtual std::vector<std::string> Processes() const = 0;
  // Gives every worker started from now on a socket for BLS calls, served by `bls`
  // (borrowed; outlives the launcher's workers). Launchers without processes ignore it.
  virtual void ServeBls(BlsServer* bls) { (void)bls; }
};

// Worker processes of `options.worker_executable` over shared memory (WorkerClient),
// managed by a ProcessManager: shielded from the server's group signals, stopped with
// SIGUSR1, restarted with backoff.
std::unique_ptr<WorkerLauncher> MakeProcessLauncher(const ServeOptions& options);

}  // namespace modelgrid
