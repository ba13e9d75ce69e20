#include "grpc/model_runtime_rpcs.h"

#include <exception>

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

// Runs `call`, turning an exception into INTERNAL rather than a crash.
template <typename Call>
Status Guarded(Call&& call) {
  try {
    return call();
  } catch (const std::exception& e) {
    return Internal(std::string("internal error: ") + e.what());
  } catch (...) {
    return Internal("internal error");
  }
}

}  // namespace

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::Begin(Context* ctx, Reactor** refused) {
  Reactor* reactor = ctx->DefaultReactor();
  *refused = nullptr;
  if (!Authorized(*ctx, api_key_)) {
    reactor->Finish(Unauthenticated());
    *refused = reactor;
    return nullptr;
  }
  return reactor;
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::loadModel(Context* ctx,
                                                       const mmesh::LoadModelRequest* request,
                                                       mmesh::LoadModelResponse* response) {
  Reactor* refused = nullptr;
  Reactor* reactor = Begin(ctx, &refused);
  if (reactor == nullptr) return refused;
  // A cancelled call still finishes its load: ModelMesh follows a cancel with unloadModel,
  // which the core runs after the load, so nothing stays loaded.
  Status st = Guarded([&] {
    runtime_.LoadRuntimeModel(SourceOf(*request), [reactor, response](Result<uint64_t> size) {
      if (size.ok()) response->set_sizeinbytes(*size);
      reactor->Finish(ToGrpc(size.status()));
    });
    return Status::Ok();
  });
  if (!st.ok()) reactor->Finish(ToGrpc(st));
  return reactor;
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::unloadModel(Context* ctx,
                                                         const mmesh::UnloadModelRequest* request,
                                                         mmesh::UnloadModelResponse*) {
  Reactor* refused = nullptr;
  Reactor* reactor = Begin(ctx, &refused);
  if (reactor == nullptr) return refused;
  Status st = Guarded([&] {
    runtime_.UnloadRuntimeModel(request->modelid(),
                                [reactor](Status done) { reactor->Finish(ToGrpc(done)); });
    return Status::Ok();
  });
  if (!st.ok()) reactor->Finish(ToGrpc(st));
  return reactor;
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::predictModelSize(
    Context* ctx, const mmesh::PredictModelSizeRequest* request,
    mmesh::PredictModelSizeResponse* response) {
  Reactor* refused = nullptr;
  Reactor* reactor = Begin(ctx, &refused);
  if (reactor == nullptr) return refused;
  reactor->Finish(ToGrpc(Guarded([&]() -> Status {
    MG_ASSIGN_OR_RETURN(uint64_t size, runtime_.PredictModelSize(SourceOf(*request)));
    response->set_sizeinbytes(size);
    return Status::Ok();
  })));
  return reactor;
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::modelSize(Context* ctx,
                                                       const mmesh::ModelSizeRequest* request,
                                                       mmesh::ModelSizeResponse* response) {
  Reactor* refused = nullptr;
  Reactor* reactor = Begin(ctx, &refused);
  if (reactor == nullptr) return refused;
  reactor->Finish(ToGrpc(Guarded([&]() -> Status {
    MG_ASSIGN_OR_RETURN(uint64_t size, runtime_.RuntimeModelSize(request->modelid()));
    response->set_sizeinbytes(size);
    return Status::Ok();
  })));
  return reactor;
}

ModelRuntimeRpcs::Reactor* ModelRuntimeRpcs::runtimeStatus(Context* ctx,
                                                           const mmesh::RuntimeStatusRequest*,
                                                           mmesh::RuntimeStatusResponse* response) {
  Reactor* refused = nullptr;
  Reactor* reactor = Begin(ctx, &refused);
  if (reactor == nullptr) return refused;
  Status st = Guarded([&] {
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
    return Status::Ok();
  });
  if (!st.ok()) reactor->Finish(ToGrpc(st));
  return reactor;
}

}  // namespace modelgrid::rpc
