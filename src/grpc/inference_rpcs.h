// inference.GRPCInferenceService on an InferenceService: every RPC of the KServe v2 gRPC
// protocol and Triton's extensions, with the callback API (no thread waits for a model).
#pragma once

#include <string>

#include "grpc/stream_infer.h"
#include "grpc_service.grpc.pb.h"
#include "server/inference_service.h"
#include "server/shared_memory.h"

namespace modelgrid::rpc {

class InferenceRpcs final : public inference::GRPCInferenceService::CallbackService {
 public:
  // All borrowed; they must outlive the gRPC server. With a non-empty `api_key` every RPC
  // but ServerLive needs "authorization: Bearer <key>" (UNAUTHENTICATED otherwise).
  InferenceRpcs(server::InferenceService& service, server::SystemSharedMemory& shm,
                std::string api_key, StreamRegistry& streams)
      : service_(service), shm_(shm), api_key_(std::move(api_key)), streams_(streams) {}

  using Context = ::grpc::CallbackServerContext;
  using Reactor = ::grpc::ServerUnaryReactor;

  Reactor* ServerLive(Context* ctx, const inference::ServerLiveRequest* request,
                      inference::ServerLiveResponse* response) override;
  Reactor* ServerReady(Context* ctx, const inference::ServerReadyRequest* request,
                       inference::ServerReadyResponse* response) override;
  Reactor* ModelReady(Context* ctx, const inference::ModelReadyRequest* request,
                      inference::ModelReadyResponse* response) override;
  Reactor* ServerMetadata(Context* ctx, const inference::ServerMetadataRequest* request,
                          inference::ServerMetadataResponse* response) override;
  Reactor* ModelMetadata(Context* ctx, const inference::ModelMetadataRequest* request,
                         inference::ModelMetadataResponse* response) override;
  Reactor* ModelInfer(Context* ctx, const inference::ModelInferRequest* request,
                      inference::ModelInferResponse* response) override;
  ::grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(Context* ctx) override;
  Reactor* ModelConfig(Context* ctx, const inference::ModelConfigRequest* request,
                       inference::ModelConfigResponse* response) override;
  Reactor* ModelStatistics(Context* ctx, const inference::ModelStatisticsRequest* request,
                           inference::ModelStatisticsResponse* response) override;
  Reactor* RepositoryIndex(Context* ctx, const inference::RepositoryIndexRequest* request,
                           inference::RepositoryIndexResponse* response) override;
  Reactor* RepositoryModelLoad(Context* ctx, const inference::RepositoryModelLoadRequest* request,
                               inference::RepositoryModelLoadResponse* response) override;
  Reactor* RepositoryModelUnload(Context* ctx,
                                 const inference::RepositoryModelUnloadRequest* request,
                                 inference::RepositoryModelUnloadResponse* response) override;
  Reactor* SystemSharedMemoryStatus(Context* ctx,
                                    const inference::SystemSharedMemoryStatusRequest* request,
                                    inference::SystemSharedMemoryStatusResponse* response) override;
  Reactor* SystemSharedMemoryRegister(
      Context* ctx, const inference::SystemSharedMemoryRegisterRequest* request,
      inference::SystemSharedMemoryRegisterResponse* response) override;
  Reactor* SystemSharedMemoryUnregister(
      Context* ctx, const inference::SystemSharedMemoryUnregisterRequest* request,
      inference::SystemSharedMemoryUnregisterResponse* response) override;
  Reactor* CudaSharedMemoryStatus(Context* ctx,
                                  const inference::CudaSharedMemoryStatusRequest* request,
                                  inference::CudaSharedMemoryStatusResponse* response) override;
  Reactor* CudaSharedMemoryRegister(Context* ctx,
                                    const inference::CudaSharedMemoryRegisterRequest* request,
                                    inference::CudaSharedMemoryRegisterResponse* response) override;
  Reactor* CudaSharedMemoryUnregister(
      Context* ctx, const inference::CudaSharedMemoryUnregisterRequest* request,
      inference::CudaSharedMemoryUnregisterResponse* response) override;
  Reactor* TraceSetting(Context* ctx, const inference::TraceSettingRequest* request,
                        inference::TraceSettingResponse* response) override;
  Reactor* LogSettings(Context* ctx, const inference::LogSettingsRequest* request,
                       inference::LogSettingsResponse* response) override;

 private:
  // Answers a synchronous RPC: UNAUTHENTICATED without the key, else what `fill` returns
  // (an exception from the service is INTERNAL, never a crash).
  template <typename Fill>
  Reactor* Answer(Context* ctx, Fill&& fill);
  // Answers a repository load or unload, which completes on the service's thread.
  Reactor* Control(
      Context* ctx, const std::string& repository, const std::string& model, bool load,
      const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters);

  server::InferenceService& service_;
  server::SystemSharedMemory& shm_;
  const std::string api_key_;
  StreamRegistry& streams_;
};

}  // namespace modelgrid::rpc
