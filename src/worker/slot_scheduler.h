// SlotScheduler: the worker's execution pool. Requests for one model slot start in the
// order they arrived, at most the slot's concurrency (its loaded instances) at once; a load
// or an unload runs alone in its slot. Different slots run side by side when the pool has
// threads for them.
//
// With one thread there is no pool: Submit runs the request in the caller's thread (the
// worker's ring thread), one request at a time in arrival order, which is the planner's
// rule for shared workers (their models take turns with their transient memory) and
// costs no hand-off between threads.
//
// Thread-safe. `run` is called on the pool's threads (or inside Submit), outside the
// scheduler's lock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "ipc/shm_layout.h"

namespace modelgrid {

class SlotScheduler {
 public:
  using Run = std::function<void(const ipc::Message&)>;

  // `threads` >= 1 (fewer is taken as 1).
  SlotScheduler(int threads, Run run);
  bool inline_mode() const { return threads_.empty(); }
  ~SlotScheduler();  // finishes what was submitted, then joins the threads

  SlotScheduler(const SlotScheduler&) = delete;
  SlotScheduler& operator=(const SlotScheduler&) = delete;

  void Submit(const ipc::Message& request);
  // Requests of `slot` that may run at once from now on (>= 1).
  void SetConcurrency(uint32_t slot, int concurrency);
  // Blocks until nothing is queued or running.
  void Drain();

 private:
  struct Slot {
    std::deque<ipc::Message> queue;
    int concurrency = 1;
    int running = 0;
    bool exclusive = false;  // a load or unload is running
    bool ready = false;      // listed in ready_
  };

  // True when the slot's next request may start now (a slot is read under mu_).
  static bool CanStart(const Slot& slot);
  // Lists the slot as ready when it can start something.
  void MaybeReady(uint32_t id, Slot& slot) REQUIRES(mu_);
  void Loop() EXCLUDES(mu_);

  const Run run_;
  Mutex mu_;
  CondVar work_cv_;  // ready_ gained an entry, or stopping_
  CondVar idle_cv_;  // something finished
  std::map<uint32_t, Slot> slots_ GUARDED_BY(mu_);
  std::deque<uint32_t> ready_ GUARDED_BY(mu_);  // slots that can start a request
  size_t busy_ GUARDED_BY(mu_) = 0;             // requests queued or running
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace modelgrid
