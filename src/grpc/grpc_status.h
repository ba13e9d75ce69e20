// The gRPC status of a core Status, mapped in one place for every RPC, and the API key
// check on a call's metadata.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace modelgrid::rpc {

// kNotFound (an unknown model or version, or one not loaded) is NOT_FOUND, which clients and
// ModelMesh read as "not here"; kInvalidArgument, kCorruptData, kUnsupported and kOutOfRange
// (what HTTP answers 400) are INVALID_ARGUMENT; kUnavailable (a model not ready, a worker
// that died, a server shutting down) is UNAVAILABLE; kResourceExhausted (admission refused)
// is RESOURCE_EXHAUSTED; kInternal is INTERNAL. The message is the Status's.
::grpc::Status ToGrpc(const Status& status);

// Whether the call carries "authorization: Bearer <key>" (compared in constant time); always
// true when `api_key` is empty.
bool Authorized(const ::grpc::ServerContextBase& context, const std::string& api_key);

// The status a call without the right key gets.
::grpc::Status Unauthenticated();

}  // namespace modelgrid::rpc
