// How every unary RPC of ModelGrid's gRPC services answers, on the callback API: the API key
// first (UNAUTHENTICATED without it), then the work, with an exception turned into INTERNAL
// rather than a crash.
#pragma once

#include <exception>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/status.h"
#include "grpc/grpc_status.h"

namespace modelgrid::rpc {

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

// Answers now: UNAUTHENTICATED without `api_key`, else the Status `fill()` returns (it fills
// the response).
template <typename Fill>
::grpc::ServerUnaryReactor* AnswerUnary(::grpc::CallbackServerContext* ctx,
                                        const std::string& api_key, Fill&& fill) {
  ::grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(Authorized(*ctx, api_key) ? ToGrpc(CatchInternal(fill)) : Unauthenticated());
  return reactor;
}

// Answers later: UNAUTHENTICATED without `api_key`, else `start(reactor)` begins the work,
// which must Finish the reactor once (on any thread); `start` throwing is INTERNAL, and it
// must then not have arranged a Finish.
template <typename Start>
::grpc::ServerUnaryReactor* StartUnary(::grpc::CallbackServerContext* ctx,
                                       const std::string& api_key, Start&& start) {
  ::grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!Authorized(*ctx, api_key)) {
    reactor->Finish(Unauthenticated());
    return reactor;
  }
  const Status started = CatchInternal([&] {
    start(reactor);
    return Status::Ok();
  });
  if (!started.ok()) reactor->Finish(ToGrpc(started));
  return reactor;
}

}  // namespace modelgrid::rpc
