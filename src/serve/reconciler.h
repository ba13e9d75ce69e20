// Reconciler: every change to what is served, one at a time on the control thread, so that
// admission always sees the state the previous change left. A change computes what it
// wants (a model loaded or gone, an instance elsewhere, a fresh plan, the repository's
// folders) and applies the difference while keeping models available: new instances load
// beside the old ones, traffic switches, and the old ones are released only after their
// last request (serve/in_flight.h). The difference itself comes from the pure functions of
// serve/reconcile_diff.h.
//
// Thread-safe: Control() may be called from any thread; the Load/Unload/Move/Replan calls
// run on the control thread only (through Control, or at start-up before Start()).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "serve/admission.h"
#include "serve/control_results.h"
#include "serve/grid_types.h"
#include "serve/observer.h"
#include "serve/registry.h"
#include "serve/request_path.h"
#include "serve/tier_manager.h"
#include "serve/worker_pool.h"

namespace modelgrid {

class Reconciler {
 public:
  // Borrows everything, which outlives it.
  Reconciler(GridContext& grid, Registry& registry, WorkerPool& pool, Observer& observer,
             RequestPath& requests, TierManager& tiers)
      : grid_(grid),
        registry_(registry),
        pool_(pool),
        observer_(observer),
        requests_(requests),
        tiers_(tiers) {}
  ~Reconciler();  // Stop()

  // Start-up: reads `names`, plans them together and registers their workers and
  // placements (the workers are not started). In mode `none` a model that cannot be read
  // fails the start; otherwise it is listed as not served, with why.
  Status PlaceInitial(const std::vector<std::string>& names);
  // Starts the control thread, and in poll mode the poller.
  void Start();
  // Runs what is queued (each task sees grid.stopping), then joins the threads. Idempotent.
  void Stop() EXCLUDES(mu_);

  // Queues `task` for the control thread; runs it at once, here, once that has stopped.
  void Control(std::function<void()> task) EXCLUDES(mu_);

  // Loads (or reloads when its files or config changed) REPO/`name`, with `override`'s
  // config instead of config.pbtxt's when given; blocks until it is READY.
  Result<LoadResult> Load(const std::string& name, const ConfigOverride* override = nullptr);
  // Unloads `name` once its last request is answered.
  Result<UnloadResult> Unload(const std::string& name);
  // Moves an instance of `name` to `device` and/or `isolation` (each defaults to where it
  // is): loads it there, switches traffic, releases the old one.
  Result<MoveResult> Move(const std::string& name, std::optional<int> device,
                          std::optional<Isolation> isolation);
  // Plans the live models afresh with `strategy` and, unless `dry_run`, moves the instances
  // the plan puts elsewhere, when that saves devices or workers.
  Result<ReplanResult> Replan(Strategy strategy, bool dry_run);

 private:
  // Admits and loads up to m->instances instances of `m`, each on a device of its own
  // (blocking). Fails when not even the first fits or loads; `notes` says why any later
  // one is missing. Nothing is routed yet.
  Result<Placements> LoadInstances(const std::shared_ptr<Model>& m,
                                   std::vector<std::string>* notes);
  // Places `m` (admitted on a device) in a new or the device's shared worker and loads it;
  // blocks until loaded. The new placement is returned but not yet routed.
  Result<std::shared_ptr<Placement>> LoadPlaced(const std::shared_ptr<Model>& m,
                                                const Admission& admission);
  // Waits for the placement's requests, unloads its slot and stops its worker when it has
  // no slot left. Returns the bytes that went back (measured), when known.
  std::optional<uint64_t> Release(const std::shared_ptr<Placement>& placement);
  // Moves one instance of `m` (`from`) to `target` with `isolation`.
  Result<MoveResult> MoveInstance(const std::shared_ptr<Model>& m,
                                  const std::shared_ptr<Placement>& from, int target,
                                  Isolation isolation);
  // Start-up: registers `m` in a new slot of `worker` (placement, batcher, registry).
  void AddSlot(const std::shared_ptr<Worker>& worker, const std::shared_ptr<Model>& m)
      REQUIRES(registry_.mu);
  // Admission's view of the devices, measured now.
  std::vector<DeviceState> DeviceStatesNow() { return observer_.DeviceStates(observer_.Measure()); }
  void ControlLoop() EXCLUDES(mu_);
  // Poll mode: queues SyncRepository() every poll interval (one at a time).
  void PollRepository() EXCLUDES(mu_);
  // Loads new and changed models, unloads removed ones.
  void SyncRepository();

  GridContext& grid_;
  Registry& registry_;
  WorkerPool& pool_;
  Observer& observer_;
  RequestPath& requests_;
  TierManager& tiers_;

  Mutex mu_;
  CondVar cv_;  // a task was queued, or Stop() was called
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;                    // Stop() was called
  bool loop_ended_ GUARDED_BY(mu_) = false;              // the control thread has returned
  bool sync_queued_ GUARDED_BY(mu_) = false;             // a poll is queued and has not started
  std::map<std::string, std::string> failed_signature_;  // control thread only
  std::thread control_;
  std::thread poller_;
};

}  // namespace modelgrid
