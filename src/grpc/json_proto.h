// The core's JSON answers (the same documents HTTP sends) as the gRPC protocol's messages,
// so that both front ends report one truth.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grpc_service.pb.h"

namespace modelgrid::rpc {

// {"name", "version", "extensions"} -> ServerMetadataResponse.
Status ServerMetadataFromJson(const nlohmann::json& j, inference::ServerMetadataResponse* out);
// {"name", "versions", "platform", "inputs", "outputs"} -> ModelMetadataResponse.
Status ModelMetadataFromJson(const nlohmann::json& j, inference::ModelMetadataResponse* out);
// [{"name", "version", "state", "reason"}] -> RepositoryIndexResponse.
Status RepositoryIndexFromJson(const nlohmann::json& j, inference::RepositoryIndexResponse* out);
// Triton's JSON model configuration -> ModelConfig, through protobuf's JSON mapping (the
// JSON form is protobuf's own). Fields of the JSON that the protocol's message lacks (the
// ModelGrid extras) are left out.
Status ModelConfigFromJson(const nlohmann::json& j, inference::ModelConfig* out);
// {"model_stats": [...]} -> ModelStatisticsResponse, the same way.
Status ModelStatisticsFromJson(const nlohmann::json& j, inference::ModelStatisticsResponse* out);
// {"key": bool | unsigned | string} -> LogSettingsResponse.
Status LogSettingsFromJson(const nlohmann::json& j, inference::LogSettingsResponse* out);

}  // namespace modelgrid::rpc
