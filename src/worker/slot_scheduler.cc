#include "worker/slot_scheduler.h"

#include <algorithm>

namespace modelgrid {
namespace {

bool Exclusive(const ipc::Message& request) {
  const auto op = static_cast<ipc::Op>(request.op);
  return op == ipc::Op::kLoad || op == ipc::Op::kUnload || op == ipc::Op::kPark ||
         op == ipc::Op::kUnpark;
}

}  // namespace

SlotScheduler::SlotScheduler(int threads, Run run) : run_(std::move(run)) {
  if (threads <= 1) return;  // inline: Submit runs each request itself
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

SlotScheduler::~SlotScheduler() {
  Drain();
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_cv_.NotifyAll();
  for (std::thread& t : threads_) t.join();
}

void SlotScheduler::Submit(const ipc::Message& request) {
  if (inline_mode()) return run_(request);
  MutexLock lock(&mu_);
  Slot& slot = slots_[request.model_slot];
  slot.queue.push_back(request);
  ++busy_;
  MaybeReady(request.model_slot, slot);
}

void SlotScheduler::SetConcurrency(uint32_t id, int concurrency) {
  MutexLock lock(&mu_);
  Slot& slot = slots_[id];
  slot.concurrency = std::max(concurrency, 1);
  MaybeReady(id, slot);
}

void SlotScheduler::Drain() {
  MutexLock lock(&mu_);
  while (busy_ != 0) idle_cv_.Wait(&mu_);
}

bool SlotScheduler::CanStart(const Slot& slot) {
  if (slot.queue.empty() || slot.exclusive) return false;
  return Exclusive(slot.queue.front()) ? slot.running == 0 : slot.running < slot.concurrency;
}

void SlotScheduler::MaybeReady(uint32_t id, Slot& slot) {
  if (slot.ready || !CanStart(slot)) return;
  slot.ready = true;
  ready_.push_back(id);
  work_cv_.NotifyOne();
}

void SlotScheduler::Loop() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && ready_.empty()) work_cv_.Wait(&mu_);
    if (ready_.empty()) return;  // stopping, and nothing left to start
    const uint32_t id = ready_.front();
    ready_.pop_front();
    Slot& slot = slots_[id];
    slot.ready = false;
    if (!CanStart(slot)) continue;
    const ipc::Message request = slot.queue.front();
    slot.queue.pop_front();
    const bool exclusive = Exclusive(request);
    slot.exclusive = exclusive;
    ++slot.running;
    MaybeReady(id, slot);  // another instance may take the next request meanwhile
    mu_.Unlock();
    run_(request);
    mu_.Lock();
    --slot.running;
    if (exclusive) slot.exclusive = false;
    --busy_;
    MaybeReady(id, slot);
    idle_cv_.NotifyAll();
  }
}

}  // namespace modelgrid
