// SlotScheduler: one thread runs each request in the caller's thread, in order; a pool
// keeps a slot's requests in order, runs no more of them at once than the slot's
// concurrency, runs a load alone in its slot, and lets other slots run meanwhile. Every
// wait is bounded; nothing asserts on time.
#include "worker/slot_scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace modelgrid {
namespace {

ipc::Message Request(uint64_t id, uint32_t slot, ipc::Op op = ipc::Op::kInfer) {
  ipc::Message m;
  std::memset(&m, 0, sizeof m);
  m.request_id = id;
  m.model_slot = slot;
  m.op = static_cast<uint8_t>(op);
  return m;
}

// Records what ran, and holds requests whose id is listed until released.
class Recorder {
 public:
  void Run(const ipc::Message& m) {
    std::unique_lock<std::mutex> lock(mu_);
    started_.push_back(m.request_id);
    ++running_;
    max_running_ = std::max(max_running_, running_);
    cv_.notify_all();
    cv_.wait(lock, [&] { return held_.count(m.request_id) == 0; });
    --running_;
  }
  void Hold(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    held_.insert(id);
  }
  void Release(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    held_.erase(id);
    cv_.notify_all();
  }
  // Waits (bounded) until `n` requests have started.
  bool WaitStarted(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return started_.size() >= n; });
  }
  std::vector<uint64_t> started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  int max_running() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_running_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<uint64_t> held_;
  std::vector<uint64_t> started_;
  int running_ = 0;
  int max_running_ = 0;
};

TEST(SlotScheduler, OneThreadRunsEachRequestInTheCallersThread) {
  std::vector<std::thread::id> threads;
  SlotScheduler scheduler(
      1, [&](const ipc::Message&) { threads.push_back(std::this_thread::get_id()); });
  EXPECT_TRUE(scheduler.inline_mode());
  for (uint64_t i = 0; i < 3; ++i) scheduler.Submit(Request(i, static_cast<uint32_t>(i % 2)));
  ASSERT_EQ(threads.size(), 3u);  // done before Submit returned
  for (const auto& id : threads) EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(SlotScheduler, ASlotRunsUpToItsConcurrencyInArrivalOrder) {
  Recorder rec;
  SlotScheduler scheduler(4, [&](const ipc::Message& m) { rec.Run(m); });
  scheduler.SetConcurrency(0, 2);
  for (uint64_t id : {1, 2, 3}) rec.Hold(id);
  for (uint64_t id : {1, 2, 3, 4}) scheduler.Submit(Request(id, 0));
  ASSERT_TRUE(rec.WaitStarted(2));
  // Two run; 3 and 4 wait although two pool threads are free (being slow can only hide a
  // bug here, never make one up).
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  // 1 and 2 start together, on two threads: in either order.
  std::vector<uint64_t> first = rec.started();
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<uint64_t>{1, 2}));
  rec.Release(1);
  ASSERT_TRUE(rec.WaitStarted(3));
  rec.Release(2);
  rec.Release(3);
  scheduler.Drain();
  const std::vector<uint64_t> all = rec.started();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(std::vector<uint64_t>(all.begin() + 2, all.end()), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(rec.max_running(), 2);
}

TEST(SlotScheduler, ALoadRunsAloneInItsSlotWhileOtherSlotsRun) {
  Recorder rec;
  SlotScheduler scheduler(3, [&](const ipc::Message& m) { rec.Run(m); });
  scheduler.SetConcurrency(0, 2);
  rec.Hold(1);
  scheduler.Submit(Request(1, 0));                  // an inference of slot 0, held
  scheduler.Submit(Request(2, 0, ipc::Op::kLoad));  // a reload of slot 0: waits for it
  scheduler.Submit(Request(3, 0));                  // after the reload
  scheduler.Submit(Request(4, 1));                  // another slot: runs now
  ASSERT_TRUE(rec.WaitStarted(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(rec.started(), (std::vector<uint64_t>{1, 4}));
  rec.Release(1);
  scheduler.Drain();
  EXPECT_EQ(rec.started(), (std::vector<uint64_t>{1, 4, 2, 3}));
}

}  // namespace
}  // namespace modelgrid
