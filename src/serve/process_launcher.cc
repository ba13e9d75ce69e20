// The real WorkerLauncher: `modelgrid-worker serve` processes over shared memory.
#include <signal.h>
#include <sys/socket.h>

#include <atomic>

#include "serve/process_manager.h"
#include "serve/worker_client.h"
#include "serve/worker_launcher.h"

namespace modelgrid {

namespace {

class ProcessLauncher : public WorkerLauncher {
 public:
  explicit ProcessLauncher(const ServeOptions& options) : options_(options) {}
  ~ProcessLauncher() override { processes_.reset(); }

  void SetEvents(Events events) override {
    RestartPolicy policy;
    // Signals to the server's process group are the server's: it drains, then stops its
    // workers with SIGUSR1 (whose default action ends them like SIGTERM's).
    policy.shield_from_group_signals = true;
    policy.stop_signal = SIGUSR1;
    processes_ = std::make_unique<ProcessManager>(
        policy,
        [events](const std::string& process, pid_t, int code, int status, bool restart) {
          events.exited(process, code, status, restart);
        },
        [events](const std::string& process, pid_t pid) { events.started(process, pid); });
  }

  Result<std::unique_ptr<WorkerChannel>> Connect(const WorkerSpec& spec) override {
    MG_ASSIGN_OR_RETURN(auto client,
                        WorkerClient::Create(spec.name, options_.shm, options_.event_loops));
    return std::unique_ptr<WorkerChannel>(std::move(client));
  }

  Status Launch(const WorkerSpec& spec, WorkerChannel& channel) override {
    // Connect made it: a WorkerClient, whose descriptors the worker inherits.
    auto& client = static_cast<WorkerClient&>(channel);
    std::vector<int> fds = {client.segment_fd()};
    std::string bells;
    for (int bell : client.doorbell_fds()) {
      bells += (bells.empty() ? "" : ",") + std::to_string(bell);
      fds.push_back(bell);
    }
    std::vector<std::string> argv = {options_.worker_executable,
                                     "serve",
                                     "--shm-fd",
                                     std::to_string(fds[0]),
                                     "--doorbell-fd",
                                     bells,
                                     "--name",
                                     spec.name,
                                     "--execution-threads",
                                     std::to_string(spec.execution_threads)};
    argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
    BlsServer* bls = bls_.load();
    const std::string name = spec.name;
    const HostBinding binding = spec.binding;
    auto started =
        processes_->Start(spec.process, [argv, fds, bls, name, binding](const std::string&) {
          WorkerCommand command{argv, fds, {}, binding};
          // Each start gets a fresh BLS socket: a dead worker's half-sent call dies with it.
          int pair[2];
          if (bls != nullptr && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
            bls->Serve(pair[0], name);
            command.argv.insert(command.argv.begin() + 2, {"--bls-fd", std::to_string(pair[1])});
            command.inherit_fds.push_back(pair[1]);
            command.close_after_spawn.push_back(pair[1]);
          }
          return Result<WorkerCommand>(std::move(command));
        });
    return started.ok() ? Status::Ok() : started.status();
  }

  Status Stop(const std::string& process, uint32_t grace_ms) override {
    return processes_->Stop(process, grace_ms);
  }
  Status Kill(const std::string& process) override { return processes_->Kill(process); }
  void DisableRestarts() override { processes_->DisableRestarts(); }
  pid_t Pid(const std::string& process) const override { return processes_->Pid(process); }
  uint32_t Restarts(const std::string& process) const override {
    return processes_->Restarts(process);
  }
  std::vector<std::string> Processes() const override { return processes_->Names(); }
  void ServeBls(BlsServer* bls) override { bls_.store(bls); }

 private:
  const ServeOptions options_;
  std::atomic<BlsServer*> bls_{nullptr};
  std::unique_ptr<ProcessManager> processes_;  // made by SetEvents
};

}  // namespace

std::unique_ptr<WorkerLauncher> MakeProcessLauncher(const ServeOptions& options) {
  return std::make_unique<ProcessLauncher>(options);
}

}  // namespace modelgrid
