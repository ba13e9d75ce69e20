#include "grpc/grpc_server.h"

#include <algorithm>
#include <climits>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/mutex.h"
#include "grpc/call_queue.h"
#include "grpc/health_rpcs.h"
#include "grpc/inference_rpcs.h"
#include "grpc/model_runtime_rpcs.h"
#include "grpc/stream_infer.h"

namespace modelgrid::rpc {

namespace {

// How often the health service follows the InferenceService's readiness.
constexpr auto kHealthPeriod = std::chrono::milliseconds(250);
constexpr const char* kServiceName = "inference.GRPCInferenceService";
// The threads that serve every call (CallQueue): they read, decode and answer; the models
// run in the workers. One: the thread that polls the connections then also runs the call,
// where with two, gRPC's poller hands completions from one to the other (serve_bench, x + 1:
// 4.0 context switches per request with one thread, 7.2-7.9 with two; docs/PERFORMANCE.md).
constexpr int kQueueThreads = 1;

int ClampInt(int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, 0, INT_MAX)); }

std::string ListenAddress(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

struct GrpcServer::Impl {
  server::InferenceService* service = nullptr;
  std::unique_ptr<server::SystemSharedMemory> own_shm;
  StreamRegistry streams;
  std::unique_ptr<InferenceRpcs> rpcs;
  std::unique_ptr<ModelRuntimeRpcs> runtime_rpcs;  // with --modelmesh
  std::unique_ptr<HealthRpcs> health_rpcs;
  std::unique_ptr<CallQueue> queue;  // outlives the server, which must shut down first
  std::unique_ptr<::grpc::Server> server;
  int port = 0;
  std::thread health;
  Mutex mu;
  CondVar wake;
  bool stopping GUARDED_BY(mu) = false;
  bool stopped GUARDED_BY(mu) = false;

  // Follows readiness until Stop: SERVING for the server ("") and the service while the
  // InferenceService is ready.
  void FollowHealth() {
    MutexLock lock(&mu);
    while (!stopping) {
      health_rpcs->SetServing(service->Ready());
      wake.WaitFor(&mu, kHealthPeriod);
    }
  }
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Stop(std::chrono::milliseconds(0)); }

uint16_t GrpcServer::port() const { return static_cast<uint16_t>(impl_->port); }

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options,
                                                      server::InferenceService& service) {
  if (options.address.empty()) return InvalidArgument("the gRPC address is empty");
  if (options.max_message_bytes < 1024 || options.max_message_bytes > uint64_t{INT_MAX}) {
    return InvalidArgument("the gRPC message limit must be between 1 KiB and 2 GiB");
  }
  auto impl = std::make_unique<Impl>();
  impl->service = &service;
  server::SystemSharedMemory* shm = options.shared_memory;
  if (shm == nullptr) {
    impl->own_shm = std::make_unique<server::SystemSharedMemory>();
    shm = impl->own_shm.get();
  }
  impl->rpcs = std::make_unique<InferenceRpcs>(service, *shm, options.api_key, impl->streams);

  impl->health_rpcs = std::make_unique<HealthRpcs>(std::vector<std::string>{kServiceName});

  ::grpc::ServerBuilder builder;
  const std::string address = ListenAddress(options.address, options.port);
  builder.AddListeningPort(address, ::grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl->rpcs->grpc_service());
  builder.RegisterService(impl->health_rpcs->grpc_service());
  if (options.model_runtime != nullptr) {
    impl->runtime_rpcs =
        std::make_unique<ModelRuntimeRpcs>(*options.model_runtime, options.api_key);
    builder.RegisterService(impl->runtime_rpcs->grpc_service());
  }
  impl->queue = std::make_unique<CallQueue>(builder.AddCompletionQueue());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(-1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ClampInt(options.keepalive_time_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ClampInt(options.keepalive_timeout_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                             options.keepalive_permit_without_calls ? 1 : 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA,
                             options.http2_max_pings_without_data);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ClampInt(options.http2_min_recv_ping_interval_without_data_ms));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options.http2_max_ping_strikes);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return Status(StatusCode::kUnavailable, "cannot serve gRPC on " + address +
                                                " (in use, or not an address of this machine)");
  }
  impl->health_rpcs->SetServing(service.Ready());  // before the first Check can come
  impl->queue->Run(kQueueThreads);
  impl->rpcs->Serve(*impl->queue);
  impl->health_rpcs->Serve(*impl->queue);
  if (impl->runtime_rpcs) impl->runtime_rpcs->Serve(*impl->queue);
  Impl* raw = impl.get();
  impl->health = std::thread([raw] { raw->FollowHealth(); });
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

void GrpcServer::Stop(std::chrono::milliseconds deadline) {
  {
    MutexLock lock(&impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->stopping = true;
  }
  impl_->wake.NotifyAll();
  if (impl_->health.joinable()) impl_->health.join();
  // Health first: Watch calls are streams that would otherwise hold the shutdown.
  impl_->health_rpcs->Shutdown();
  impl_->streams.DrainAll();
  impl_->server->Shutdown(std::chrono::system_clock::now() + deadline);
  impl_->server->Wait();
  impl_->queue->Stop();  // every call has ended
}

}  // namespace modelgrid::rpc
