// inference.GRPCInferenceService on an InferenceService: every RPC of the KServe v2 gRPC
// protocol and Triton's extensions, served from a CallQueue (no thread waits for a model).
#pragma once

#include <string>

#include "grpc/call_queue.h"
#include "grpc/stream_infer.h"
#include "grpc/unary_call.h"
#include "grpc_service.grpc.pb.h"
#include "server/inference_service.h"
#include "server/shared_memory.h"

namespace modelgrid::rpc {

class InferenceRpcs {
 public:
  // All borrowed; they must outlive the gRPC server. With a non-empty `api_key` every RPC
  // but ServerLive needs "authorization: Bearer <key>" (UNAUTHENTICATED otherwise).
  InferenceRpcs(server::InferenceService& service, server::SystemSharedMemory& shm,
                std::string api_key, StreamRegistry& streams)
      : service_(service), shm_(shm), api_key_(std::move(api_key)), streams_(streams) {}

  // What ServerBuilder::RegisterService takes.
  ::grpc::Service* grpc_service() { return &async_; }
  // Serves every RPC on `queue`, once the server is built.
  void Serve(CallQueue& queue);

 private:
  template <typename Request, typename Response>
  using Call = UnaryCall<Request, Response>;

  void ServerLive(Call<inference::ServerLiveRequest, inference::ServerLiveResponse>& call);
  void ServerReady(Call<inference::ServerReadyRequest, inference::ServerReadyResponse>& call);
  void ModelReady(Call<inference::ModelReadyRequest, inference::ModelReadyResponse>& call);
  void ServerMetadata(
      Call<inference::ServerMetadataRequest, inference::ServerMetadataResponse>& call);
  void ModelMetadata(Call<inference::ModelMetadataRequest, inference::ModelMetadataResponse>& call);
  void ModelInfer(Call<inference::ModelInferRequest, inference::ModelInferResponse>& call);
  void ModelConfig(Call<inference::ModelConfigRequest, inference::ModelConfigResponse>& call);
  void ModelStatistics(
      Call<inference::ModelStatisticsRequest, inference::ModelStatisticsResponse>& call);
  void RepositoryIndex(
      Call<inference::RepositoryIndexRequest, inference::RepositoryIndexResponse>& call);
  void SystemSharedMemoryStatus(Call<inference::SystemSharedMemoryStatusRequest,
                                     inference::SystemSharedMemoryStatusResponse>& call);
  void SystemSharedMemoryRegister(Call<inference::SystemSharedMemoryRegisterRequest,
                                       inference::SystemSharedMemoryRegisterResponse>& call);
  void SystemSharedMemoryUnregister(Call<inference::SystemSharedMemoryUnregisterRequest,
                                         inference::SystemSharedMemoryUnregisterResponse>& call);
  void CudaSharedMemoryStatus(Call<inference::CudaSharedMemoryStatusRequest,
                                   inference::CudaSharedMemoryStatusResponse>& call);
  void CudaSharedMemoryRegister(Call<inference::CudaSharedMemoryRegisterRequest,
                                     inference::CudaSharedMemoryRegisterResponse>& call);
  void CudaSharedMemoryUnregister(Call<inference::CudaSharedMemoryUnregisterRequest,
                                       inference::CudaSharedMemoryUnregisterResponse>& call);
  void TraceSetting(Call<inference::TraceSettingRequest, inference::TraceSettingResponse>& call);
  void LogSettings(Call<inference::LogSettingsRequest, inference::LogSettingsResponse>& call);
  // Answers a synchronous RPC: UNAUTHENTICATED without the key, else what `fill` returns
  // (an exception from the service is INTERNAL, never a crash).
  template <typename Request, typename Response, typename Fill>
  void Answer(Call<Request, Response>& call, Fill&& fill);
  // Answers a repository load or unload, which completes on the service's thread.
  template <typename Request, typename Response>
  void Control(Call<Request, Response>& call, bool load);

  server::InferenceService& service_;
  server::SystemSharedMemory& shm_;
  const std::string api_key_;
  StreamRegistry& streams_;
  inference::GRPCInferenceService::AsyncService async_;
};

}  // namespace modelgrid::rpc
