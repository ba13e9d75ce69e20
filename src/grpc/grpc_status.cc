#include "grpc/grpc_status.h"

#include <optional>

#include "server/router.h"

namespace modelgrid::rpc {

::grpc::Status ToGrpc(const Status& status) {
  using ::grpc::StatusCode;
  StatusCode code = StatusCode::INTERNAL;
  switch (status.code()) {
    case modelgrid::StatusCode::kOk:
      return ::grpc::Status::OK;
    case modelgrid::StatusCode::kInvalidArgument:
    case modelgrid::StatusCode::kCorruptData:
    case modelgrid::StatusCode::kUnsupported:
    case modelgrid::StatusCode::kOutOfRange:
      code = StatusCode::INVALID_ARGUMENT;
      break;
    case modelgrid::StatusCode::kNotFound:
      code = StatusCode::NOT_FOUND;
      break;
    case modelgrid::StatusCode::kResourceExhausted:
      code = StatusCode::RESOURCE_EXHAUSTED;
      break;
    case modelgrid::StatusCode::kUnavailable:
      code = StatusCode::UNAVAILABLE;
      break;
    case modelgrid::StatusCode::kInternal:
      code = StatusCode::INTERNAL;
      break;
  }
  return ::grpc::Status(code, status.message());
}

bool Authorized(const ::grpc::ServerContextBase& context, const std::string& api_key) {
  if (api_key.empty()) return true;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return false;
  return server::BearerMatches(std::string(it->second.data(), it->second.size()), api_key);
}

::grpc::Status Unauthenticated() {
  return ::grpc::Status(::grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong API key: send metadata 'authorization: Bearer <key>'");
}

}  // namespace modelgrid::rpc
