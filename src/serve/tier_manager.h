// TierManager: the host-memory tier of `modelgrid serve --host-cache`. A model it manages
// (Model::tiered: a LibTorch model with one instance in its device's shared worker, not
// latency-sensitive) is resident on its device or parked in host memory, its model object
// kept in the worker (serve/grid_types.h, Tier). A request for a model that is not
// resident waits while the swap thread makes room, by parking the least recently used
// idle models of the same worker, and copies it back (or loads it, when cold); then the
// request is routed as any other.
//
// Accounting: a model counts on its device from the moment its swap-in begins until its
// park has ended (WorkerBudget), and in the host cache while parked. A swap-in starts only
// when the device's planned budget, with the model, fits under the device's capacity and
// its measured free memory (serve/admission.h), so the device is never over-committed; a
// park takes only a model with no request accepted (none queued, none in flight), and
// needs room in the host cache. Swaps run one at a time, and the control thread holds the
// same lock (Hold) across an admission and the load it leads to.
//
// Requests are served oldest first: the model whose request waited longest swaps in first,
// and the next when that one cannot yet (its device's other models busy).
//
// A request waits at most ServeOptions::host_cache_wait_ms, then fails with
// kUnavailable saying why (every resident model busy, the host cache full). A worker's
// exit fails its swap in flight; its parked models come back cold (the parked copies were
// in the worker) and load on their next swap-in.
//
// Thread-safe. Lock order: the Registry's lock, then mu_; hold_mu_ before both.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "serve/grid_types.h"
#include "serve/observer.h"
#include "serve/registry.h"
#include "serve/worker_pool.h"

namespace modelgrid {

class TierManager {
 public:
  // Borrows everything, which outlives it.
  TierManager(GridContext& grid, Registry& registry, WorkerPool& pool, Observer& observer)
      : grid_(grid), registry_(registry), pool_(pool), observer_(observer) {}
  ~TierManager();  // Stop()

  bool enabled() const { return grid_.options.host_cache_bytes > 0; }
  // Why `m` is never parked ("" when it may be).
  static std::string PinnedWhy(const Model& m);

  // Starts the swap thread (when enabled).
  void Start();
  // Fails every waiting request (kUnavailable: shutting down) and joins the thread.
  // Idempotent.
  void Stop() EXCLUDES(mu_);

  // The request path, for a request of tiered `m` routed to `placement` (its only one):
  // the placement's ticket when `m` is resident, marking its use. Otherwise null, and
  // `resume` is called once, from the swap thread: Ok once `m` is resident (route again),
  // or why the wait ended. kUnavailable once stopped (`resume` is then not called). May be
  // called with the Registry's lock held.
  Result<InFlight::Ticket> EnterOrWait(Model* m, Placement& placement,
                                       std::function<void(Status)> resume) EXCLUDES(mu_);

  // The control thread, across an admission and the load it leads to: no swap changes
  // what is on the devices meanwhile. Empty when the tier is off.
  std::unique_lock<std::mutex> Hold();
  // With Hold() held: parks the least recently used idle tiered model of `device`'s shared
  // worker. False when there is none, or the host cache has no room for it.
  bool ParkOne(int device) EXCLUDES(mu_);

  // Whether `ask` would be admitted on its device (ask.device) were every model the tier
  // may park there parked: when not, parking them for it would be in vain.
  bool FitsOnceParked(const AdmissionRequest& ask) const;

  // The worker pool, when a worker came up: true when `m` (tiered, not on its device) must
  // not be loaded now; it becomes cold, to load on its next swap-in.
  bool ColdOnStart(Model& m) EXCLUDES(mu_);

 private:
  struct Waiter {
    uint64_t since_ms = 0;
    std::function<void(Status)> resume;
  };
  using Resumes = std::vector<std::pair<std::function<void(Status)>, Status>>;

  void Loop() EXCLUDES(mu_);
  // Makes `m` resident for its waiters, or leaves them waiting when it cannot yet; true
  // when it did (or when its waiters were answered otherwise).
  bool SwapIn(Model* m) EXCLUDES(mu_);
  // With no request waiting: swaps in one cold model that was not tried since it became
  // cold, so that what it evicts is parked and its first request finds it loaded.
  bool WarmOne() EXCLUDES(mu_);
  // Bytes the parked models hold in host memory (their resident parts).
  uint64_t ParkedBytesLocked() const REQUIRES_SHARED(registry_.mu);
  // Parks models of `worker` (not `keep`) until `keep` fits on the device beside what
  // stays; kResourceExhausted (saying what is missing) when it cannot.
  Status MakeRoomFor(const Worker& worker, const Model& keep) EXCLUDES(mu_);
  // Parks the least recently used idle tiered model of `worker` other than `keep`; false,
  // with why in `*why`, when none can be.
  bool ParkVictim(const Worker& worker, const Model* keep, std::string* why) EXCLUDES(mu_);
  // Sends `op` for `slot` of `worker` and waits for the reply.
  static Result<Reply> CallAndWait(const Worker& worker, ipc::Op op, uint32_t slot);
  // Moves `m` to `to` under mu_.
  void SetTier(Model& m, Tier to) EXCLUDES(mu_);
  // Records why `m`'s waiters still wait (when it has some).
  void Block(Model* m, std::string why) EXCLUDES(mu_);
  // Answers the waiters of `m` with `status` (all of them) into `out`.
  void TakeWaiters(Model* m, const Status& status, Resumes* out) REQUIRES(mu_);

  GridContext& grid_;
  Registry& registry_;
  WorkerPool& pool_;
  Observer& observer_;

  std::mutex hold_mu_;  // one swap, park or control-thread admission at a time
  mutable Mutex mu_;
  CondVar wake_;  // a request began to wait, or Stop()
  std::map<Model*, std::deque<Waiter>> waiting_ GUARDED_BY(mu_);
  // Why each waiting model is still waiting (its last swap-in attempt), for the timeouts.
  std::map<Model*, std::string> blocked_ GUARDED_BY(mu_);
  std::set<std::string> warm_tried_ GUARDED_BY(mu_);  // cold models WarmOne tried
  uint64_t uses_ GUARDED_BY(mu_) = 0;                 // counts uses: orders Model::last_use
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace modelgrid
