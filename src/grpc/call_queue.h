// CallQueue: the completion queue every RPC of ModelGrid's gRPC server is served from, and
// the threads that run it. gRPC's callback API polls the connections on threads of its own
// and hands each call to another; with every RPC on this queue, the thread that reads a
// request also runs its handler, so a call wakes fewer threads (docs/PERFORMANCE.md).
//
// Each call is a CallTag that the queue's threads resume (Proceed) when one of its
// operations completes. The queue counts the calls that exist (asked for, open, or
// finishing), so that Stop can wait for every one to end before it shuts the queue: gRPC
// forbids an operation on a queue that is shut down.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/mutex.h"

namespace modelgrid::rpc {

// What the queue hands a completed operation to. The queue's `void*` tags are CallTag*.
class CallTag {
 public:
  virtual ~CallTag() = default;
  // `ok` as gRPC's CompletionQueue::Next gives it for this operation.
  virtual void Proceed(bool ok) = 0;
};

// A CallTag that runs `fn` of `target`: one kind of operation of a call object.
template <typename T>
class MemberTag final : public CallTag {
 public:
  MemberTag(T* target, void (T::*fn)(bool)) : target_(target), fn_(fn) {}
  void Proceed(bool ok) override { (target_->*fn_)(ok); }

 private:
  T* target_;
  void (T::*fn_)(bool);
};

class CallQueue {
 public:
  // `cq` comes from ServerBuilder::AddCompletionQueue, before the server is built.
  explicit CallQueue(std::unique_ptr<::grpc::ServerCompletionQueue> cq) : cq_(std::move(cq)) {}
  ~CallQueue();  // Stop()
  CallQueue(const CallQueue&) = delete;
  CallQueue& operator=(const CallQueue&) = delete;

  ::grpc::ServerCompletionQueue* cq() { return cq_.get(); }

  // Starts `threads` threads that run the queue. Once, after the server is built.
  void Run(int threads);

  // Keeps `method` (what a served method's calls refer to) until the queue is destroyed.
  void Keep(std::shared_ptr<const void> method) { methods_.push_back(std::move(method)); }

  // Runs `work` (which must not throw) on the queue's helper thread, started on first use,
  // in order: a handler that must block (a model's dry run) holds no call behind it. For a
  // call that has not ended: Stop joins the helper once every call has.
  void Offload(std::function<void()> work) EXCLUDES(mu_);

  // A call begins to exist (Enter), or is gone: End deletes it, as its last act. Thread-safe.
  void Enter() { calls_.fetch_add(1, std::memory_order_relaxed); }
  template <typename Call>
  void End(Call* call) EXCLUDES(mu_) {
    delete call;
    Leave();
  }

  // Call after the server's Shutdown has returned (no new call is then matched): waits for
  // every call to Leave, shuts the queue down, drains it and joins its threads. Idempotent.
  void Stop() EXCLUDES(mu_);

 private:
  void Loop();
  void Leave() EXCLUDES(mu_);
  void HelperLoop() EXCLUDES(mu_);

  std::unique_ptr<::grpc::ServerCompletionQueue> cq_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<const void>> methods_;
  std::atomic<int> calls_{0};
  Mutex mu_;
  CondVar gone_;  // calls_ reached 0
  bool stopped_ GUARDED_BY(mu_) = false;
  std::thread helper_;
  std::deque<std::function<void()>> offloaded_ GUARDED_BY(mu_);
  CondVar offload_;  // work offloaded, or the helper is to stop
  bool helper_stop_ GUARDED_BY(mu_) = false;
};

}  // namespace modelgrid::rpc
