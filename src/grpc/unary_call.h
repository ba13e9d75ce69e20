// Unary RPCs on a CallQueue: ServeUnary asks gRPC for a method's calls and runs a handler
// on each, on the queue's thread that received it; AnswerUnary and StartUnary are how
// ModelGrid's handlers answer (the API key first, then the work, an exception being
// INTERNAL rather than a crash).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/async_unary_call.h>

#include "common/status.h"
#include "grpc/call_queue.h"
#include "grpc/grpc_status.h"

namespace modelgrid::rpc {

template <typename Request, typename Response>
class UnaryCall;

// A unary method served on a queue: how to ask gRPC for its next call, and its handler.
template <typename Request, typename Response>
struct UnaryMethod {
  CallQueue* queue = nullptr;
  std::function<void(::grpc::ServerContext*, Request*, ::grpc::ServerAsyncResponseWriter<Response>*,
                     void* tag)>
      ask;
  // Runs on the queue's thread; must make the call Finish exactly once, now or later.
  std::function<void(UnaryCall<Request, Response>&)> handle;
};

// One call of a unary method: gRPC fills its request, the handler its response and ends it
// with Finish. It deletes itself once gRPC is done with it.
template <typename Request, typename Response>
class UnaryCall final : public CallTag {
 public:
  // Asks gRPC for the next call of `method` (kept by its queue).
  static void Ask(const UnaryMethod<Request, Response>* method) {
    auto* call = new UnaryCall(method);
    method->queue->Enter();
    method->ask(&call->context_, &call->request_, &call->writer_, call);
  }

  ::grpc::ServerContext& context() { return context_; }
  Request& request() { return request_; }
  Response& response() { return response_; }

  // Sends the response (an OK `status`) or `status` alone. Exactly once, from any thread;
  // the call may be gone when it returns.
  void Finish(const ::grpc::Status& status) {
    if (status.ok()) {
      writer_.Finish(response_, status, this);
    } else {
      writer_.FinishWithError(status, this);
    }
  }

  void Proceed(bool ok) override {
    if (ok && !finishing_) {
      Ask(method_);  // the next call of this method
      finishing_ = true;
      method_->handle(*this);
      return;
    }
    // Finished, or never matched (the server is shutting down).
    method_->queue->End(this);
  }

 private:
  explicit UnaryCall(const UnaryMethod<Request, Response>* method)
      : method_(method), writer_(&context_) {}

  const UnaryMethod<Request, Response>* method_;
  ::grpc::ServerContext context_;
  Request request_;
  Response response_;
  ::grpc::ServerAsyncResponseWriter<Response> writer_;
  bool finishing_ = false;  // handed to the handler: the next Proceed is the Finish's
};

// Serves `ask` (an AsyncService's RequestXxx) of `service` on `queue`: every call runs
// `handle`.
template <typename Service, typename Base, typename Request, typename Response, typename Handle>
void ServeUnary(CallQueue& queue, Service* service,
                void (Base::*ask)(::grpc::ServerContext*, Request*,
                                  ::grpc::ServerAsyncResponseWriter<Response>*,
                                  ::grpc::CompletionQueue*, ::grpc::ServerCompletionQueue*, void*),
                Handle&& handle) {
  auto method = std::make_shared<UnaryMethod<Request, Response>>();
  method->queue = &queue;
  ::grpc::ServerCompletionQueue* cq = queue.cq();
  method->ask = [service, ask, cq](::grpc::ServerContext* ctx, Request* request,
                                   ::grpc::ServerAsyncResponseWriter<Response>* writer, void* tag) {
    (static_cast<Base*>(service)->*ask)(ctx, request, writer, cq, cq, tag);
  };
  method->handle = std::forward<Handle>(handle);
  queue.Keep(method);
  UnaryCall<Request, Response>::Ask(method.get());
}

// Runs `work` (returning a Status), turning an exception into INTERNAL.
template <typename Work>
Status CatchInternal(Work&& work) {
  try {
    return work();
  } catch (const std::exception& e) {
    return Internal(std::string("internal error: ") + e.what());
  } catch (...) {
    return Internal("internal error");
  }
}

// Answers now: UNAUTHENTICATED without `api_key`, else the Status `fill()` returns (it
// fills the response).
template <typename Request, typename Response, typename Fill>
void AnswerUnary(UnaryCall<Request, Response>& call, const std::string& api_key, Fill&& fill) {
  call.Finish(Authorized(call.context(), api_key) ? ToGrpc(CatchInternal(fill))
                                                  : Unauthenticated());
}

// Answers later: UNAUTHENTICATED without `api_key`, else `start()` begins the work, which
// must Finish the call once (on any thread); `start` throwing is INTERNAL, and it must then
// not have arranged a Finish.
template <typename Request, typename Response, typename Start>
void StartUnary(UnaryCall<Request, Response>& call, const std::string& api_key, Start&& start) {
  if (!Authorized(call.context(), api_key)) return call.Finish(Unauthenticated());
  const Status started = CatchInternal([&] {
    start();
    return Status::Ok();
  });
  if (!started.ok()) call.Finish(ToGrpc(started));
}

}  // namespace modelgrid::rpc
