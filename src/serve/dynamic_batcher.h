// DynamicBatcher: Triton-style dynamic batching for one model. Requests wait at most
// max_queue_delay_us for others to join them; a group is dispatched as soon as it reaches
// the largest preferred batch size (or max_batch_size), or when its oldest request's delay
// runs out. A group never exceeds max_batch_size samples.
//
// Thread-safe. `dispatch` runs on the batcher's thread (or the submitting thread when a
// group fills up) and must not block for long. The destructor dispatches what is queued.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace modelgrid {

struct BatchingOptions {
  int64_t max_batch_size = 1;                  // samples per dispatched group
  std::vector<int64_t> preferred_batch_sizes;  // dispatch at once when the largest is reached
  uint64_t max_queue_delay_us = 0;             // longest a request waits for company
};

// `Item` must have an `int64_t batch` member (its samples, >= 1).
template <typename Item>
class DynamicBatcher {
 public:
  using Dispatch = std::function<void(std::vector<Item>)>;

  DynamicBatcher(BatchingOptions options, Dispatch dispatch)
      : options_(std::move(options)), dispatch_(std::move(dispatch)) {
    target_ = options_.max_batch_size;
    if (!options_.preferred_batch_sizes.empty()) {
      target_ = std::min(target_, *std::max_element(options_.preferred_batch_sizes.begin(),
                                                    options_.preferred_batch_sizes.end()));
    }
    target_ = std::max<int64_t>(1, target_);
    thread_ = std::thread([this] { Loop(); });
  }

  ~DynamicBatcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void Submit(Item item) {
    std::vector<Item> group;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued_samples_ += item.batch;
      queue_.push_back({std::move(item), Clock::now()});
      if (queued_samples_ >= target_) group = TakeGroup();
    }
    if (!group.empty()) {
      dispatch_(std::move(group));
    } else {
      cv_.notify_all();
    }
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Queued {
    Item item;
    Clock::time_point enqueued;
  };

  // The oldest requests, up to max_batch_size samples (at least one request). Requires mu_.
  std::vector<Item> TakeGroup() {
    std::vector<Item> group;
    int64_t samples = 0;
    while (!queue_.empty()) {
      const int64_t b = queue_.front().item.batch;
      if (!group.empty() && samples + b > options_.max_batch_size) break;
      samples += b;
      group.push_back(std::move(queue_.front().item));
      queue_.pop_front();
    }
    queued_samples_ -= samples;
    return group;
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (queue_.empty()) {
        if (stopping_) return;
        cv_.wait(lock);
        continue;
      }
      const auto deadline =
          queue_.front().enqueued + std::chrono::microseconds(options_.max_queue_delay_us);
      if (!stopping_ && Clock::now() < deadline && queued_samples_ < target_) {
        cv_.wait_until(lock, deadline);
        continue;
      }
      std::vector<Item> group = TakeGroup();
      lock.unlock();
      dispatch_(std::move(group));
      lock.lock();
    }
  }

  const BatchingOptions options_;
  const Dispatch dispatch_;
  int64_t target_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;    // GUARDED_BY(mu_)
  int64_t queued_samples_ = 0;  // GUARDED_BY(mu_)
  bool stopping_ = false;       // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace modelgrid
