#include "grpc/call_queue.h"

namespace modelgrid::rpc {

CallQueue::~CallQueue() { Stop(); }

void CallQueue::Run(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

void CallQueue::Loop() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<CallTag*>(tag)->Proceed(ok);
}

void CallQueue::Offload(std::function<void()> work) {
  MutexLock lock(&mu_);
  offloaded_.push_back(std::move(work));
  if (!helper_.joinable()) helper_ = std::thread([this] { HelperLoop(); });
  offload_.NotifyOne();
}

void CallQueue::HelperLoop() {
  while (true) {
    std::function<void()> work;
    {
      MutexLock lock(&mu_);
      while (offloaded_.empty() && !helper_stop_) offload_.Wait(&mu_);
      if (offloaded_.empty()) return;  // stopping, with nothing left to run
      work = std::move(offloaded_.front());
      offloaded_.pop_front();
    }
    work();
  }
}

void CallQueue::Leave() {
  if (calls_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  MutexLock lock(&mu_);  // so that Stop cannot miss the wake between its check and its wait
  gone_.NotifyAll();
}

void CallQueue::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    while (calls_.load(std::memory_order_acquire) != 0) gone_.Wait(&mu_);
    helper_stop_ = true;
    offload_.NotifyOne();
  }
  if (helper_.joinable()) helper_.join();
  cq_->Shutdown();
  if (threads_.empty()) {  // never run: drain it here
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) {
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace modelgrid::rpc
