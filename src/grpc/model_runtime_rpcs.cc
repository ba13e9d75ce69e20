#include "grpc/model_runtime_rpcs.h"

#include "grpc/grpc_status.h"

namespace modelgrid::rpc {

namespace {

// The inference methods ModelMesh may forward to this runtime, each with the field number
// of its request's model name (where ModelMesh writes the model id): field 1 in all three.
constexpr const char* kRoutedMethods[] = {
    "inference.GRPCInferenceService/ModelInfer",
    "inference.GRPCInferenceService/ModelMetadata",
    "inference.GRPCInferenceService/ModelReady",
};
constexpr uint32_t kModelNameField = 1;

// A load's or a prediction's request in the runtime's terms.
template <typename Request>
server::RuntimeModelSource SourceOf(const Request& r) {
  return {r.modelid(), r.modeltype(), r.modelpath(), r.modelkey()};
}

}  // namespace

void ModelRuntimeRpcs::Serve(CallQueue& queue) {
  queue_ = &queue;
  using Service = mmesh::ModelRuntime::AsyncService;
  Service* s = &async_;
  ServeUnary(queue, s, &Service::RequestloadModel, [this](auto& c) { loadModel(c); });
  ServeUnary(queue, s, &Service::RequestunloadModel, [this](auto& c) { unloadModel(c); });
  ServeUnary(queue, s, &Service::RequestpredictModelSize, [this](auto& c) { predictModelSize(c); });
  ServeUnary(queue, s, &Service::RequestmodelSize, [this](auto& c) { modelSize(c); });
  ServeUnary(queue, s, &Service::RequestruntimeStatus, [this](auto& c) { runtimeStatus(c); });
}

void ModelRuntimeRpcs::loadModel(Call<mmesh::LoadModelRequest, mmesh::LoadModelResponse>& call) {
  // A cancelled call still finishes its load: ModelMesh follows a cancel with unloadModel,
  // which the core runs after the load, so nothing stays loaded.
  StartUnary(call, api_key_, [&] {
    runtime_.LoadRuntimeModel(SourceOf(call.request()), [&call](Result<uint64_t> size) {
      if (size.ok()) call.response().set_sizeinbytes(*size);
      call.Finish(ToGrpc(size.status()));
    });
  });
}

void ModelRuntimeRpcs::unloadModel(
    Call<mmesh::UnloadModelRequest, mmesh::UnloadModelResponse>& call) {
  StartUnary(call, api_key_, [&] {
    runtime_.UnloadRuntimeModel(call.request().modelid(),
                                [&call](Status done) { call.Finish(ToGrpc(done)); });
  });
}

void ModelRuntimeRpcs::predictModelSize(
    Call<mmesh::PredictModelSizeRequest, mmesh::PredictModelSizeResponse>& call) {
  // A first prediction of a TorchScript model waits for its dry run: off the queue's thread.
  queue_->Offload([this, &call] {
    AnswerUnary(call, api_key_, [&]() -> Status {
      MG_ASSIGN_OR_RETURN(uint64_t size, runtime_.PredictModelSize(SourceOf(call.request())));
      call.response().set_sizeinbytes(size);
      return Status::Ok();
    });
  });
}

void ModelRuntimeRpcs::modelSize(Call<mmesh::ModelSizeRequest, mmesh::ModelSizeResponse>& call) {
  AnswerUnary(call, api_key_, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(uint64_t size, runtime_.RuntimeModelSize(call.request().modelid()));
    call.response().set_sizeinbytes(size);
    return Status::Ok();
  });
}

void ModelRuntimeRpcs::runtimeStatus(
    Call<mmesh::RuntimeStatusRequest, mmesh::RuntimeStatusResponse>& call) {
  StartUnary(call, api_key_, [&] {
    runtime_.RuntimeStatus([&call](Result<server::RuntimeInfo> info) {
      if (!info.ok()) return call.Finish(ToGrpc(info.status()));
      using Response = mmesh::RuntimeStatusResponse;
      Response& response = call.response();
      response.set_status(info->ready ? Response::READY : Response::STARTING);
      if (info->ready) {
        response.set_capacityinbytes(info->capacity_bytes);
        response.set_maxloadingconcurrency(info->max_loading_concurrency);
        response.set_modelloadingtimeoutms(info->model_loading_timeout_ms);
        response.set_defaultmodelsizeinbytes(info->default_model_size_bytes);
        response.set_runtimeversion(info->runtime_version);
        for (const char* method : kRoutedMethods) {
          (*response.mutable_methodinfos())[method].add_idinjectionpath(kModelNameField);
        }
      }
      call.Finish(::grpc::Status::OK);
    });
  });
}

}  // namespace modelgrid::rpc
