// mmesh.ModelRuntime (proto/model_runtime.proto) on a server::ModelRuntime: the SPI that
// KServe ModelMesh's sidecar calls to load, size and unload the models of a pod. Served on
// the gRPC port beside inference.GRPCInferenceService when `modelgrid serve --modelmesh`.
#pragma once

#include <string>

#include "grpc/call_queue.h"
#include "grpc/unary_call.h"
#include "model_runtime.grpc.pb.h"
#include "server/model_runtime.h"

namespace modelgrid::rpc {

class ModelRuntimeRpcs {
 public:
  // `runtime` is borrowed and must outlive the gRPC server. With a non-empty `api_key`
  // every call needs "authorization: Bearer <key>" (ModelMesh's sidecar sends none: keep
  // the runtime's port inside the pod instead).
  ModelRuntimeRpcs(server::ModelRuntime& runtime, std::string api_key)
      : runtime_(runtime), api_key_(std::move(api_key)) {}

  // What ServerBuilder::RegisterService takes.
  ::grpc::Service* grpc_service() { return &async_; }
  // Serves every RPC on `queue`, once the server is built.
  void Serve(CallQueue& queue);

 private:
  template <typename Request, typename Response>
  using Call = UnaryCall<Request, Response>;

  void loadModel(Call<mmesh::LoadModelRequest, mmesh::LoadModelResponse>& call);
  void unloadModel(Call<mmesh::UnloadModelRequest, mmesh::UnloadModelResponse>& call);
  void predictModelSize(
      Call<mmesh::PredictModelSizeRequest, mmesh::PredictModelSizeResponse>& call);
  void modelSize(Call<mmesh::ModelSizeRequest, mmesh::ModelSizeResponse>& call);
  void runtimeStatus(Call<mmesh::RuntimeStatusRequest, mmesh::RuntimeStatusResponse>& call);

  server::ModelRuntime& runtime_;
  const std::string api_key_;
  mmesh::ModelRuntime::AsyncService async_;
  CallQueue* queue_ = nullptr;  // set by Serve
};

}  // namespace modelgrid::rpc
