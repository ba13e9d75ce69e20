// WorkerPool: the workers' lives. Creates workers (a channel each, through the injected
// WorkerLauncher), starts and stops them, loads model instances into their slots, and
// handles what the launcher reports: a worker that came up reloads every instance it hosts;
// one that exited fails its calls and makes the models it alone served UNAVAILABLE until
// its restart has reloaded them. A watchdog thread kills workers silent for longer than
// --heartbeat-timeout-ms.
//
// Thread-safe. Launcher events arrive on the launcher's thread; load replies on channel
// threads. Lock order: the pool's mu_, then the Registry's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "serve/grid_types.h"
#include "serve/registry.h"
#include "serve/worker_launcher.h"

namespace modelgrid {

class WorkerPool {
 public:
  // Borrows `grid` and `registry`, which outlive it; owns `launcher`.
  WorkerPool(GridContext& grid, Registry& registry, std::unique_ptr<WorkerLauncher> launcher);
  ~WorkerPool();  // stops the watchdog and every worker

  // A new worker on `device` (not yet in the registry, not started), named after the
  // device and, when isolated, after `first_model`. Control thread (or start-up) only.
  Result<std::shared_ptr<Worker>> Create(int device, bool isolated, const std::string& first_model,
                                         int execution_threads) EXCLUDES(mu_);
  // Starts its process; the worker reloads the slots it has when it comes up.
  Status Start(const Worker& worker);
  // Blocks until `worker` came up once, shutdown began or `timeout` passed; true if up.
  bool WaitStarted(const Worker& worker, std::chrono::milliseconds timeout) EXCLUDES(mu_);
  // Stops it for good (a stop request, a kill after `grace_ms`); blocks until it is gone.
  void Stop(const Worker& worker, uint32_t grace_ms);

  // Loads `model` into `worker`'s `slot` (already in its slots); `done` gets the warm-up
  // peak of all its instances (the footprint store is updated), or the error. `done` runs
  // on a channel thread and must not block.
  using LoadCallback = std::function<void(Result<uint64_t> peak_bytes)>;
  void LoadSlot(const std::shared_ptr<Worker>& worker, uint32_t slot,
                const std::shared_ptr<Model>& model, LoadCallback done);
  // Asks `worker` to drop `slot` and blocks until it confirms or `timeout` passes.
  Status UnloadSlot(const Worker& worker, uint32_t slot, std::chrono::milliseconds timeout);

  // When a worker comes up, a model for which `cold` is true is not loaded but made READY
  // as it is (the host-memory tier loads it on demand). Set before the first Start.
  void SetColdOnStart(std::function<bool(Model&)> cold) { cold_on_start_ = std::move(cold); }

  // Every worker's channel, present and future, consumes its replies on `loop`.
  void UseEventLoop(server::EventLoop* loop) EXCLUDES(loop_mu_);
  // Starts the watchdog (call once, after the initial workers were started); stops and
  // joins it (idempotent).
  void StartWatchdog();
  void StopWatchdog();
  // No worker is restarted from now on; waiters of WaitStarted return. Idempotent.
  void BeginShutdown() EXCLUDES(mu_);
  // Stops every worker (grace as Stop).
  void StopAll(uint32_t grace_ms);

  pid_t Pid(const Worker& worker) const { return launcher_->Pid(worker.process); }
  uint32_t Restarts(const Worker& worker) const { return launcher_->Restarts(worker.process); }
  uint64_t restarts_total() const { return restarts_.load(); }

 private:
  void OnStarted(const std::string& process) EXCLUDES(mu_);
  void OnExit(const std::string& process, int exit_code, int exit_status, bool will_restart);
  // Marks a model's load on `worker`'s `slot` done (READY, or why not) if that slot is
  // still one of its placements.
  void Loaded(const Worker* worker, uint32_t slot, const std::shared_ptr<Model>& m,
              Result<uint64_t> peak, std::chrono::steady_clock::time_point started);
  // Whether `worker`'s `slot` is one of `m`'s placements.
  bool Current(const Worker* worker, uint32_t slot, const std::shared_ptr<Model>& m)
      EXCLUDES(registry_.mu);
  void Watchdog();

  GridContext& grid_;
  Registry& registry_;
  // Reset first in the destructor: its threads report into this pool until they end.
  std::unique_ptr<WorkerLauncher> launcher_;
  std::atomic<uint64_t> next_worker_id_{0};  // makes Worker::process unique
  std::atomic<uint64_t> restarts_{0};
  std::function<bool(Model&)> cold_on_start_;  // constant once a worker started
  Mutex loop_mu_;
  server::EventLoop* event_loop_ GUARDED_BY(loop_mu_) = nullptr;  // the HTTP server's
  Mutex mu_;
  CondVar started_cv_;                             // a worker came up, or shutdown began
  std::set<std::string> started_ GUARDED_BY(mu_);  // processes that came up once
  bool shutting_down_ GUARDED_BY(mu_) = false;
  std::atomic<bool> watchdog_stop_{false};
  std::thread watchdog_;
};

}  // namespace modelgrid
