// mmesh.ModelRuntime (proto/model_runtime.proto) on a server::ModelRuntime: the SPI that
// KServe ModelMesh's sidecar calls to load, size and unload the models of a pod. Served on
// the gRPC port beside inference.GRPCInferenceService when `modelgrid serve --modelmesh`.
#pragma once

#include <string>

#include "model_runtime.grpc.pb.h"
#include "server/model_runtime.h"

namespace modelgrid::rpc {

class ModelRuntimeRpcs final : public mmesh::ModelRuntime::CallbackService {
 public:
  // `runtime` is borrowed and must outlive the gRPC server. With a non-empty `api_key`
  // every call needs "authorization: Bearer <key>" (ModelMesh's sidecar sends none: keep
  // the runtime's port inside the pod instead).
  ModelRuntimeRpcs(server::ModelRuntime& runtime, std::string api_key)
      : runtime_(runtime), api_key_(std::move(api_key)) {}

  using Context = ::grpc::CallbackServerContext;
  using Reactor = ::grpc::ServerUnaryReactor;

  Reactor* loadModel(Context* ctx, const mmesh::LoadModelRequest* request,
                     mmesh::LoadModelResponse* response) override;
  Reactor* unloadModel(Context* ctx, const mmesh::UnloadModelRequest* request,
                       mmesh::UnloadModelResponse* response) override;
  Reactor* predictModelSize(Context* ctx, const mmesh::PredictModelSizeRequest* request,
                            mmesh::PredictModelSizeResponse* response) override;
  Reactor* modelSize(Context* ctx, const mmesh::ModelSizeRequest* request,
                     mmesh::ModelSizeResponse* response) override;
  Reactor* runtimeStatus(Context* ctx, const mmesh::RuntimeStatusRequest* request,
                         mmesh::RuntimeStatusResponse* response) override;

 private:
  server::ModelRuntime& runtime_;
  const std::string api_key_;
};

}  // namespace modelgrid::rpc
