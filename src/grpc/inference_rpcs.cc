#include "grpc/inference_rpcs.h"

#include <utility>

#include "common/base64.h"
#include "grpc/grpc_status.h"
#include "grpc/infer_call.h"
#include "grpc/json_proto.h"
#include "server/logging_extension.h"

namespace modelgrid::rpc {

namespace {

using nlohmann::json;

// A stream refused before it starts (no key): it ends at once with `status`.
class RefusedStream final
    : public BidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  static void Start(StreamCall& call, const ::grpc::Status& status) {
    (new RefusedStream(call))->Finish(status);
  }
  void OnReadDone(bool) override {}
  void OnDone() override { delete this; }

 private:
  explicit RefusedStream(StreamCall& call) : BidiReactor(call) {}
};

// A single repository: a request naming one is refused rather than ignored.
Status CheckRepository(const std::string& repository) {
  if (repository.empty()) return Status::Ok();
  return InvalidArgument("repository_name \"" + repository +
                         "\": ModelGrid serves one repository; leave repository_name empty");
}

// A load or unload request's parameters as the HTTP body's: bytes (a "file:" parameter's
// content) become base64 text, as HTTP clients send them.
Result<json> ControlBody(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters) {
  json params = json::object();
  for (const auto& [key, p] : parameters) {
    switch (p.parameter_choice_case()) {
      case inference::ModelRepositoryParameter::kBoolParam:
        params[key] = p.bool_param();
        break;
      case inference::ModelRepositoryParameter::kInt64Param:
        params[key] = p.int64_param();
        break;
      case inference::ModelRepositoryParameter::kStringParam:
        params[key] = p.string_param();
        break;
      case inference::ModelRepositoryParameter::kBytesParam:
        params[key] = EncodeBase64(p.bytes_param());
        break;
      default:
        return InvalidArgument("parameter \"" + key + "\" has no value");
    }
  }
  json body = json::object();
  if (!params.empty()) body["parameters"] = std::move(params);
  return body;
}

}  // namespace

void InferenceRpcs::Serve(CallQueue& queue) {
  using Service = inference::GRPCInferenceService::AsyncService;
  Service* s = &async_;
  ServeUnary(queue, s, &Service::RequestServerLive, [this](auto& c) { ServerLive(c); });
  ServeUnary(queue, s, &Service::RequestServerReady, [this](auto& c) { ServerReady(c); });
  ServeUnary(queue, s, &Service::RequestModelReady, [this](auto& c) { ModelReady(c); });
  ServeUnary(queue, s, &Service::RequestServerMetadata, [this](auto& c) { ServerMetadata(c); });
  ServeUnary(queue, s, &Service::RequestModelMetadata, [this](auto& c) { ModelMetadata(c); });
  ServeUnary(queue, s, &Service::RequestModelInfer, [this](auto& c) { ModelInfer(c); });
  ServeBidi(queue, s, &Service::RequestModelStreamInfer, [this](StreamCall& c) {
    if (!Authorized(c.context(), api_key_)) return RefusedStream::Start(c, Unauthenticated());
    StreamInferReactor::Start(c, service_, shm_, streams_);
  });
  ServeUnary(queue, s, &Service::RequestModelConfig, [this](auto& c) { ModelConfig(c); });
  ServeUnary(queue, s, &Service::RequestModelStatistics, [this](auto& c) { ModelStatistics(c); });
  ServeUnary(queue, s, &Service::RequestRepositoryIndex, [this](auto& c) { RepositoryIndex(c); });
  ServeUnary(queue, s, &Service::RequestRepositoryModelLoad, [this](auto& c) { Control(c, true); });
  ServeUnary(queue, s, &Service::RequestRepositoryModelUnload,
             [this](auto& c) { Control(c, false); });
  ServeUnary(queue, s, &Service::RequestSystemSharedMemoryStatus,
             [this](auto& c) { SystemSharedMemoryStatus(c); });
  ServeUnary(queue, s, &Service::RequestSystemSharedMemoryRegister,
             [this](auto& c) { SystemSharedMemoryRegister(c); });
  ServeUnary(queue, s, &Service::RequestSystemSharedMemoryUnregister,
             [this](auto& c) { SystemSharedMemoryUnregister(c); });
  ServeUnary(queue, s, &Service::RequestCudaSharedMemoryStatus,
             [this](auto& c) { CudaSharedMemoryStatus(c); });
  ServeUnary(queue, s, &Service::RequestCudaSharedMemoryRegister,
             [this](auto& c) { CudaSharedMemoryRegister(c); });
  ServeUnary(queue, s, &Service::RequestCudaSharedMemoryUnregister,
             [this](auto& c) { CudaSharedMemoryUnregister(c); });
  ServeUnary(queue, s, &Service::RequestTraceSetting, [this](auto& c) { TraceSetting(c); });
  ServeUnary(queue, s, &Service::RequestLogSettings, [this](auto& c) { LogSettings(c); });
}

template <typename Request, typename Response, typename Fill>
void InferenceRpcs::Answer(Call<Request, Response>& call, Fill&& fill) {
  AnswerUnary(call, api_key_, std::forward<Fill>(fill));
}

void InferenceRpcs::ServerLive(
    Call<inference::ServerLiveRequest, inference::ServerLiveResponse>& call) {
  // Liveness needs no key, as GET /v2/health/live: probes carry none.
  call.response().set_live(service_.Live());
  call.Finish(::grpc::Status::OK);
}

void InferenceRpcs::ServerReady(
    Call<inference::ServerReadyRequest, inference::ServerReadyResponse>& call) {
  auto* response = &call.response();
  Answer(call, [&] {
    response->set_ready(service_.Ready());
    return Status::Ok();
  });
}

void InferenceRpcs::ModelReady(
    Call<inference::ModelReadyRequest, inference::ModelReadyResponse>& call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(bool ready, service_.ModelReady(request->name(), request->version()));
    response->set_ready(ready);
    return Status::Ok();
  });
}

void InferenceRpcs::ServerMetadata(
    Call<inference::ServerMetadataRequest, inference::ServerMetadataResponse>& call) {
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ServerMetadata());
    return ServerMetadataFromJson(j, response);
  });
}

void InferenceRpcs::ModelMetadata(
    Call<inference::ModelMetadataRequest, inference::ModelMetadataResponse>& call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ModelMetadata(request->name(), request->version()));
    return ModelMetadataFromJson(j, response);
  });
}

void InferenceRpcs::ModelInfer(
    Call<inference::ModelInferRequest, inference::ModelInferResponse>& call) {
  StartUnary(call, api_key_, [&] {
    // The message is this call's alone: taking its input bytes instead of copying them is
    // safe.
    inference::ModelInferRequest& mutable_request = call.request();
    // KServe ModelMesh names the model in its "mm-model-id" header too: a request routed by
    // it without an injected model_name is for that model.
    if (mutable_request.model_name().empty()) {
      const auto& metadata = call.context().client_metadata();
      if (auto it = metadata.find("mm-model-id"); it != metadata.end()) {
        mutable_request.set_model_name(std::string(it->second.data(), it->second.size()));
      }
    }
    InferOne(service_, shm_, mutable_request, &call.response(),
             [&call](Status st) { call.Finish(ToGrpc(st)); });
  });
}

void InferenceRpcs::ModelConfig(
    Call<inference::ModelConfigRequest, inference::ModelConfigResponse>& call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ModelConfig(request->name(), request->version()));
    return ModelConfigFromJson(j, response->mutable_config());
  });
}

void InferenceRpcs::ModelStatistics(
    Call<inference::ModelStatisticsRequest, inference::ModelStatisticsResponse>& call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ModelStats(request->name(), request->version()));
    return ModelStatisticsFromJson(j, response);
  });
}

void InferenceRpcs::RepositoryIndex(
    Call<inference::RepositoryIndexRequest, inference::RepositoryIndexResponse>& call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_RETURN_IF_ERROR(CheckRepository(request->repository_name()));
    MG_ASSIGN_OR_RETURN(json j, service_.RepositoryIndex(request->ready()));
    return RepositoryIndexFromJson(j, response);
  });
}

template <typename Request, typename Response>
void InferenceRpcs::Control(Call<Request, Response>& call, bool load) {
  StartUnary(call, api_key_, [&] {
    const Request& request = call.request();
    const std::string& model = request.model_name();
    Status checked = CheckRepository(request.repository_name());
    auto body = ControlBody(request.parameters());
    if (checked.ok() && !body.ok()) checked = body.status();
    if (checked.ok() && model.empty()) checked = InvalidArgument("model_name is empty");
    if (!checked.ok()) return call.Finish(ToGrpc(checked));
    auto done = [&call](Result<json> result) { call.Finish(ToGrpc(result.status())); };
    if (load) {
      service_.LoadModel(model, *body, done);
    } else {
      service_.UnloadModel(model, *body, done);
    }
  });
}

void InferenceRpcs::SystemSharedMemoryStatus(
    Call<inference::SystemSharedMemoryStatusRequest, inference::SystemSharedMemoryStatusResponse>&
        call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json regions, shm_.RegionStatus(request->name()));
    auto& out = *response->mutable_regions();
    for (const json& r : regions) {
      auto& status = out[r.at("name").get<std::string>()];
      status.set_name(r.at("name").get<std::string>());
      status.set_key(r.at("key").get<std::string>());
      status.set_offset(r.at("offset").get<uint64_t>());
      status.set_byte_size(r.at("byte_size").get<uint64_t>());
    }
    return Status::Ok();
  });
}

void InferenceRpcs::SystemSharedMemoryRegister(
    Call<inference::SystemSharedMemoryRegisterRequest,
         inference::SystemSharedMemoryRegisterResponse>& call) {
  const auto* request = &call.request();
  Answer(call, [&]() -> Status {
    if (request->name().empty()) return InvalidArgument("register needs a region name");
    return shm_.Register(request->name(), request->key(), request->offset(), request->byte_size());
  });
}

void InferenceRpcs::SystemSharedMemoryUnregister(
    Call<inference::SystemSharedMemoryUnregisterRequest,
         inference::SystemSharedMemoryUnregisterResponse>& call) {
  const auto* request = &call.request();
  Answer(call, [&] {
    shm_.Unregister(request->name());
    return Status::Ok();
  });
}

void InferenceRpcs::CudaSharedMemoryStatus(Call<inference::CudaSharedMemoryStatusRequest,
                                                inference::CudaSharedMemoryStatusResponse>& call) {
  const auto* request = &call.request();
  // Nothing can be registered: the server process has no CUDA.
  Answer(call, [&] {
    if (request->name().empty()) return Status::Ok();
    return InvalidArgument("no CUDA shared memory region '" + request->name() + "'");
  });
}

void InferenceRpcs::CudaSharedMemoryRegister(
    Call<inference::CudaSharedMemoryRegisterRequest, inference::CudaSharedMemoryRegisterResponse>&
        call) {
  Answer(call, [] {
    return InvalidArgument(
        "CUDA shared memory is not supported by this server: its server process has no CUDA "
        "(use system shared memory)");
  });
}

void InferenceRpcs::CudaSharedMemoryUnregister(
    Call<inference::CudaSharedMemoryUnregisterRequest,
         inference::CudaSharedMemoryUnregisterResponse>& call) {
  Answer(call, [] { return Status::Ok(); });
}

void InferenceRpcs::TraceSetting(
    Call<inference::TraceSettingRequest, inference::TraceSettingResponse>& call) {
  Answer(call, [] {
    return InvalidArgument(
        "the trace extension is not supported by ModelGrid (its timings are in "
        "ModelStatistics and /metrics)");
  });
}

void InferenceRpcs::LogSettings(
    Call<inference::LogSettingsRequest, inference::LogSettingsResponse>& call) {
  const auto* request = &call.request();
  auto* response = &call.response();
  Answer(call, [&]() -> Status {
    if (request->settings().empty())
      return LogSettingsFromJson(server::LogSettingsJson(), response);
    json update = json::object();
    for (const auto& [key, v] : request->settings()) {
      switch (v.parameter_choice_case()) {
        case inference::LogSettingsRequest::SettingValue::kBoolParam:
          update[key] = v.bool_param();
          break;
        case inference::LogSettingsRequest::SettingValue::kUint32Param:
          update[key] = v.uint32_param();
          break;
        case inference::LogSettingsRequest::SettingValue::kStringParam:
          update[key] = v.string_param();
          break;
        default:
          return InvalidArgument("log setting \"" + key + "\" has no value");
      }
    }
    MG_ASSIGN_OR_RETURN(json now, server::UpdateLogSettings(update));
    return LogSettingsFromJson(now, response);
  });
}

}  // namespace modelgrid::rpc
