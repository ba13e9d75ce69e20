#include "grpc/inference_rpcs.h"

#include <utility>

#include "common/base64.h"
#include "grpc/grpc_status.h"
#include "grpc/infer_call.h"
#include "grpc/json_proto.h"
#include "grpc/unary_reactor.h"
#include "server/logging_extension.h"

namespace modelgrid::rpc {

namespace {

using nlohmann::json;

// A stream refused before it starts (no key): it ends at once with `status`.
class RefusedStream final : public ::grpc::ServerBidiReactor<inference::ModelInferRequest,
                                                             inference::ModelStreamInferResponse> {
 public:
  explicit RefusedStream(const ::grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
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

template <typename Fill>
InferenceRpcs::Reactor* InferenceRpcs::Answer(Context* ctx, Fill&& fill) {
  return AnswerUnary(ctx, api_key_, std::forward<Fill>(fill));
}

InferenceRpcs::Reactor* InferenceRpcs::ServerLive(Context* ctx, const inference::ServerLiveRequest*,
                                                  inference::ServerLiveResponse* response) {
  // Liveness needs no key, as GET /v2/health/live: probes carry none.
  Reactor* reactor = ctx->DefaultReactor();
  response->set_live(service_.Live());
  reactor->Finish(::grpc::Status::OK);
  return reactor;
}

InferenceRpcs::Reactor* InferenceRpcs::ServerReady(Context* ctx,
                                                   const inference::ServerReadyRequest*,
                                                   inference::ServerReadyResponse* response) {
  return Answer(ctx, [&] {
    response->set_ready(service_.Ready());
    return Status::Ok();
  });
}

InferenceRpcs::Reactor* InferenceRpcs::ModelReady(Context* ctx,
                                                  const inference::ModelReadyRequest* request,
                                                  inference::ModelReadyResponse* response) {
  return Answer(ctx, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(bool ready, service_.ModelReady(request->name(), request->version()));
    response->set_ready(ready);
    return Status::Ok();
  });
}

InferenceRpcs::Reactor* InferenceRpcs::ServerMetadata(Context* ctx,
                                                      const inference::ServerMetadataRequest*,
                                                      inference::ServerMetadataResponse* response) {
  return Answer(ctx, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ServerMetadata());
    return ServerMetadataFromJson(j, response);
  });
}

InferenceRpcs::Reactor* InferenceRpcs::ModelMetadata(Context* ctx,
                                                     const inference::ModelMetadataRequest* request,
                                                     inference::ModelMetadataResponse* response) {
  return Answer(ctx, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ModelMetadata(request->name(), request->version()));
    return ModelMetadataFromJson(j, response);
  });
}

InferenceRpcs::Reactor* InferenceRpcs::ModelInfer(Context* ctx,
                                                  const inference::ModelInferRequest* request,
                                                  inference::ModelInferResponse* response) {
  return StartUnary(ctx, api_key_, [&](Reactor* reactor) {
    // gRPC made this message for this call alone and does not read it again: taking its
    // input bytes instead of copying them is safe.
    auto& mutable_request = const_cast<inference::ModelInferRequest&>(*request);
    // KServe ModelMesh names the model in its "mm-model-id" header too: a request routed by
    // it without an injected model_name is for that model.
    if (mutable_request.model_name().empty()) {
      const auto& metadata = ctx->client_metadata();
      if (auto it = metadata.find("mm-model-id"); it != metadata.end()) {
        mutable_request.set_model_name(std::string(it->second.data(), it->second.size()));
      }
    }
    InferOne(service_, shm_, mutable_request, response,
             [reactor](Status st) { reactor->Finish(ToGrpc(st)); });
  });
}

::grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
InferenceRpcs::ModelStreamInfer(Context* ctx) {
  if (!Authorized(*ctx, api_key_)) return new RefusedStream(Unauthenticated());
  return StreamInferReactor::Start(service_, shm_, streams_);
}

InferenceRpcs::Reactor* InferenceRpcs::ModelConfig(Context* ctx,
                                                   const inference::ModelConfigRequest* request,
                                                   inference::ModelConfigResponse* response) {
  return Answer(ctx, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ModelConfig(request->name(), request->version()));
    return ModelConfigFromJson(j, response->mutable_config());
  });
}

InferenceRpcs::Reactor* InferenceRpcs::ModelStatistics(
    Context* ctx, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  return Answer(ctx, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(json j, service_.ModelStats(request->name(), request->version()));
    return ModelStatisticsFromJson(j, response);
  });
}

InferenceRpcs::Reactor* InferenceRpcs::RepositoryIndex(
    Context* ctx, const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  return Answer(ctx, [&]() -> Status {
    MG_RETURN_IF_ERROR(CheckRepository(request->repository_name()));
    MG_ASSIGN_OR_RETURN(json j, service_.RepositoryIndex(request->ready()));
    return RepositoryIndexFromJson(j, response);
  });
}

InferenceRpcs::Reactor* InferenceRpcs::Control(
    Context* ctx, const std::string& repository, const std::string& model, bool load,
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters) {
  return StartUnary(ctx, api_key_, [&](Reactor* reactor) {
    Status checked = CheckRepository(repository);
    auto body = ControlBody(parameters);
    if (checked.ok() && !body.ok()) checked = body.status();
    if (checked.ok() && model.empty()) checked = InvalidArgument("model_name is empty");
    if (!checked.ok()) return reactor->Finish(ToGrpc(checked));
    auto done = [reactor](Result<json> result) { reactor->Finish(ToGrpc(result.status())); };
    if (load) {
      service_.LoadModel(model, *body, done);
    } else {
      service_.UnloadModel(model, *body, done);
    }
  });
}

InferenceRpcs::Reactor* InferenceRpcs::RepositoryModelLoad(
    Context* ctx, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  return Control(ctx, request->repository_name(), request->model_name(), true,
                 request->parameters());
}

InferenceRpcs::Reactor* InferenceRpcs::RepositoryModelUnload(
    Context* ctx, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  return Control(ctx, request->repository_name(), request->model_name(), false,
                 request->parameters());
}

InferenceRpcs::Reactor* InferenceRpcs::SystemSharedMemoryStatus(
    Context* ctx, const inference::SystemSharedMemoryStatusRequest* request,
    inference::SystemSharedMemoryStatusResponse* response) {
  return Answer(ctx, [&]() -> Status {
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

InferenceRpcs::Reactor* InferenceRpcs::SystemSharedMemoryRegister(
    Context* ctx, const inference::SystemSharedMemoryRegisterRequest* request,
    inference::SystemSharedMemoryRegisterResponse*) {
  return Answer(ctx, [&]() -> Status {
    if (request->name().empty()) return InvalidArgument("register needs a region name");
    return shm_.Register(request->name(), request->key(), request->offset(), request->byte_size());
  });
}

InferenceRpcs::Reactor* InferenceRpcs::SystemSharedMemoryUnregister(
    Context* ctx, const inference::SystemSharedMemoryUnregisterRequest* request,
    inference::SystemSharedMemoryUnregisterResponse*) {
  return Answer(ctx, [&] {
    shm_.Unregister(request->name());
    return Status::Ok();
  });
}

InferenceRpcs::Reactor* InferenceRpcs::CudaSharedMemoryStatus(
    Context* ctx, const inference::CudaSharedMemoryStatusRequest* request,
    inference::CudaSharedMemoryStatusResponse*) {
  // Nothing can be registered: the server process has no CUDA.
  return Answer(ctx, [&] {
    if (request->name().empty()) return Status::Ok();
    return InvalidArgument("no CUDA shared memory region '" + request->name() + "'");
  });
}

InferenceRpcs::Reactor* InferenceRpcs::CudaSharedMemoryRegister(
    Context* ctx, const inference::CudaSharedMemoryRegisterRequest*,
    inference::CudaSharedMemoryRegisterResponse*) {
  return Answer(ctx, [] {
    return InvalidArgument(
        "CUDA shared memory is not supported by this server: its server process has no CUDA "
        "(use system shared memory)");
  });
}

InferenceRpcs::Reactor* InferenceRpcs::CudaSharedMemoryUnregister(
    Context* ctx, const inference::CudaSharedMemoryUnregisterRequest*,
    inference::CudaSharedMemoryUnregisterResponse*) {
  return Answer(ctx, [] { return Status::Ok(); });
}

InferenceRpcs::Reactor* InferenceRpcs::TraceSetting(Context* ctx,
                                                    const inference::TraceSettingRequest*,
                                                    inference::TraceSettingResponse*) {
  return Answer(ctx, [] {
    return InvalidArgument(
        "the trace extension is not supported by ModelGrid (its timings are in "
        "ModelStatistics and /metrics)");
  });
}

InferenceRpcs::Reactor* InferenceRpcs::LogSettings(Context* ctx,
                                                   const inference::LogSettingsRequest* request,
                                                   inference::LogSettingsResponse* response) {
  return Answer(ctx, [&]() -> Status {
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
