// The defaults of InferenceService's optional parts (no event loop use, operations not
// supported), and ReplyInfo.
#include "server/inference_service.h"

namespace modelgrid::server {

namespace {

Status NotSupported(const char* what) {
  return Unsupported(std::string(what) + " is not supported by this server");
}

}  // namespace

InferRequest ReplyInfo(const InferRequest& request) {
  InferRequest info;
  info.model = request.model;
  info.version = request.version;
  info.id = request.id;
  info.requested_outputs = request.requested_outputs;
  info.binary_outputs = request.binary_outputs;
  info.output_regions = request.output_regions;
  return info;
}

void InferenceService::UseEventLoop(EventLoop*) {}

void InferenceService::InferStream(InferRequest request, StreamCallback each) {
  Infer(std::move(request), [each = std::move(each)](Result<InferResponse> response) {
    each(std::move(response), true);
  });
}

Result<std::string> InferenceService::Metrics() { return NotSupported("metrics"); }

Result<nlohmann::json> InferenceService::ModelConfig(const std::string&, const std::string&) {
  return NotSupported("the model configuration extension");
}

Result<nlohmann::json> InferenceService::ServerStatus() { return NotSupported("status"); }

Result<nlohmann::json> InferenceService::RepositoryIndex(bool) {
  return NotSupported("the repository API");
}

void InferenceService::LoadModel(const std::string&, const nlohmann::json&, JsonCallback done) {
  done(NotSupported("model control"));
}

void InferenceService::UnloadModel(const std::string&, const nlohmann::json&, JsonCallback done) {
  done(NotSupported("model control"));
}

void InferenceService::MoveModel(const std::string&, const nlohmann::json&, JsonCallback done) {
  done(NotSupported("moving models"));
}

void InferenceService::Replan(const nlohmann::json&, JsonCallback done) {
  done(NotSupported("re-planning"));
}

}  // namespace modelgrid::server
