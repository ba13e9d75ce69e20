#include "grpc/model_runtime_rpcs.h"

#include "grpc/grpc_status.h"
#include "grpc/unary_reactor.h"

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

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::loadModel(Context* ctx,
                                                       const mmesh::LoadModelRequest* request,
                                                       mmesh::LoadModelResponse* response) {
  // A cancelled call still finishes its load: ModelMesh follows a cancel with unloadModel,
  // which the core runs after the load, so nothing stays loaded.
  return StartUnary(ctx, api_key_, [&](Reactor* reactor) {
    runtime_.LoadRuntimeModel(SourceOf(*request), [reactor, response](Result<uint64_t> size) {
      if (size.ok()) response->set_sizeinbytes(*size);
      reactor->Finish(ToGrpc(size.status()));
    });
  });
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::unloadModel(Context* ctx,
                                                         const mmesh::UnloadModelRequest* request,
                                                         mmesh::UnloadModelResponse*) {
  return StartUnary(ctx, api_key_, [&](Reactor* reactor) {
    runtime_.UnloadRuntimeModel(request->modelid(),
                                [reactor](Status done) { reactor->Finish(ToGrpc(done)); });
  });
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::predictModelSize(
    Context* ctx, const mmesh::PredictModelSizeRequest* request,
    mmesh::PredictModelSizeResponse* response) {
  return AnswerUnary(ctx, api_key_, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(uint64_t size, runtime_.PredictModelSize(SourceOf(*request)));
    response->set_sizeinbytes(size);
    return Status::Ok();
  });
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::modelSize(Context* ctx,
                                                       const mmesh::ModelSizeRequest* request,
                                                       mmesh::ModelSizeResponse* response) {
  return AnswerUnary(ctx, api_key_, [&]() -> Status {
    MG_ASSIGN_OR_RETURN(uint64_t size, runtime_.RuntimeModelSize(request->modelid()));
    response->set_sizeinbytes(size);
    return Status::Ok();
  });
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::runtimeStatus(Context* ctx,
                                                           const mmesh::RuntimeStatusRequest*,
                                                           mmesh::RuntimeStatusResponse* response) {
  return StartUnary(ctx, api_key_, [&](Reactor* reactor) {
    runtime_.RuntimeStatus([reactor, response](Result<server::RuntimeInfo> info) {
      if (!info.ok()) return reactor->Finish(ToGrpc(info.status()));
      using Response = mmesh::RuntimeStatusResponse;
      response->set_status(info->ready ? Response::READY : Response::STARTING);
      if (info->ready) {
        response->set_capacityinbytes(info->capacity_bytes);
        response->set_maxloadingconcurrency(info->max_loading_concurrency);
        response->set_modelloadingtimeoutms(info->model_loading_timeout_ms);
        response->set_defaultmodelsizeinbytes(info->default_model_size_bytes);
        response->set_runtimeversion(info->runtime_version);
        for (const char* method : kRoutedMethods) {
          (*response->mutable_methodinfos())[method].add_idinjectionpath(kModelNameField);
        }
      }
      reactor->Finish(::grpc::Status::OK);
    });
  });
}

}  // namespace modelgrid::rpc
