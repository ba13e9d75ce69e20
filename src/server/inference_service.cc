// The defaults of InferenceService's optional parts: no event loop use, operations not
// supported.
#include "server/inference_service.h"

namespace modelgrid::server {

namespace {

Status NotSupported(const char* what) {
  return Unsupported(std::string(what) + " is not supported by this server");
}

}  // namespace

void InferenceService::UseEventLoop(EventLoop*) {}

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
