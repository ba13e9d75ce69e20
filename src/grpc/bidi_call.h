// Bidirectional streams on a CallQueue, with the reactor interface of gRPC's callback API
// (StartRead, StartWrite, Finish; OnReadDone, OnWriteDone, OnCancel, OnDone) so that a
// stream's logic reads as it would there, while the stream is served from ModelGrid's own
// queue threads.
//
// Contract, as ServerBidiReactor's: at most one read and one write in flight; Finish once,
// after which no read or write starts; OnDone comes once, after Finish and after every
// operation and the call itself completed, and is the last thing the reactor is told. The
// reactor owns its own lifetime (OnDone is where it may delete itself).
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/async_stream.h>

#include "common/mutex.h"
#include "grpc/call_queue.h"

namespace modelgrid::rpc {

template <typename Request, typename Response>
class BidiCall;

template <typename Request, typename Response>
class BidiReactor {
 public:
  virtual ~BidiReactor() = default;
  virtual void OnReadDone(bool ok) = 0;
  virtual void OnWriteDone(bool /*ok*/) {}
  virtual void OnCancel() {}
  virtual void OnDone() = 0;

 protected:
  // Binds the reactor to `call` (the call passed to the method's start function).
  explicit BidiReactor(BidiCall<Request, Response>& call) : call_(call) { call.reactor_ = this; }

  void StartRead(Request* request) { call_.Read(request); }
  void StartWrite(const Response* response) { call_.Write(*response); }
  void Finish(const ::grpc::Status& status) { call_.Finish(status); }

 private:
  BidiCall<Request, Response>& call_;
};

// A bidirectional method served on a queue: how to ask gRPC for its next call, and how a
// call starts (it makes a reactor on the call and may start its operations).
template <typename Request, typename Response>
struct BidiMethod {
  CallQueue* queue = nullptr;
  std::function<void(::grpc::ServerContext*, ::grpc::ServerAsyncReaderWriter<Response, Request>*,
                     void* tag)>
      ask;
  std::function<void(BidiCall<Request, Response>&)> start;
};

template <typename Request, typename Response>
class BidiCall {
 public:
  static void Ask(const BidiMethod<Request, Response>* method) {
    auto* call = new BidiCall(method);
    method->queue->Enter();
    call->context_.AsyncNotifyWhenDone(&call->done_);
    method->ask(&call->context_, &call->stream_, &call->arrived_);
  }

  ::grpc::ServerContext& context() { return context_; }

 private:
  friend class BidiReactor<Request, Response>;

  explicit BidiCall(const BidiMethod<Request, Response>* method)
      : method_(method), stream_(&context_) {}

  void Read(Request* request) {
    Begin();
    stream_.Read(request, &read_);
  }
  void Write(const Response& response) {
    Begin();
    stream_.Write(response, &write_);
  }
  void Finish(const ::grpc::Status& status) { stream_.Finish(status, &finished_); }
  void Begin() {
    MutexLock lock(&mu_);
    ++pending_;
  }

  void OnArrived(bool ok) {
    if (!ok) {  // never matched: the server is shutting down (no done tag comes)
      return method_->queue->End(this);
    }
    Ask(method_);
    method_->start(*this);
  }
  void OnRead(bool ok) {
    reactor_->OnReadDone(ok);
    End();
  }
  void OnWritten(bool ok) {
    reactor_->OnWriteDone(ok);
    End();
  }
  void OnFinished(bool) { End(); }
  void OnCallDone(bool) {
    if (context_.IsCancelled()) reactor_->OnCancel();
    End();
  }
  // An operation, the Finish or the call completed: after the last, the reactor is told
  // OnDone and the call goes.
  void End() {
    {
      MutexLock lock(&mu_);
      if (--pending_ != 0) return;
    }
    reactor_->OnDone();
    method_->queue->End(this);
  }

  const BidiMethod<Request, Response>* method_;
  ::grpc::ServerContext context_;
  ::grpc::ServerAsyncReaderWriter<Response, Request> stream_;
  BidiReactor<Request, Response>* reactor_ = nullptr;
  using Op = MemberTag<BidiCall>;
  Op arrived_{this, &BidiCall::OnArrived};
  Op read_{this, &BidiCall::OnRead};
  Op write_{this, &BidiCall::OnWritten};
  Op finished_{this, &BidiCall::OnFinished};
  Op done_{this, &BidiCall::OnCallDone};
  Mutex mu_;
  // The call's own completion (done_), the Finish the reactor owes, and each read and write
  // in flight.
  int pending_ GUARDED_BY(mu_) = 2;
};

// Serves `ask` (an AsyncService's RequestXxx for a bidirectional method) of `service` on
// `queue`: every call is handed to `start`, which makes its reactor.
template <typename Service, typename Base, typename Request, typename Response, typename Handle>
void ServeBidi(CallQueue& queue, Service* service,
               void (Base::*ask)(::grpc::ServerContext*,
                                 ::grpc::ServerAsyncReaderWriter<Response, Request>*,
                                 ::grpc::CompletionQueue*, ::grpc::ServerCompletionQueue*, void*),
               Handle&& start) {
  auto method = std::make_shared<BidiMethod<Request, Response>>();
  method->queue = &queue;
  ::grpc::ServerCompletionQueue* cq = queue.cq();
  method->ask = [service, ask, cq](::grpc::ServerContext* ctx,
                                   ::grpc::ServerAsyncReaderWriter<Response, Request>* stream,
                                   void* tag) {
    (static_cast<Base*>(service)->*ask)(ctx, stream, cq, cq, tag);
  };
  method->start = std::forward<Handle>(start);
  queue.Keep(method);
  BidiCall<Request, Response>::Ask(method.get());
}

}  // namespace modelgrid::rpc
