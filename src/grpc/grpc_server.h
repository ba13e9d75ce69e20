// GrpcServer: the KServe v2 gRPC front end of `modelgrid serve` (inference.
// GRPCInferenceService, proto/grpc_service.proto), beside the HTTP one on the same
// InferenceService: one request path, two front ends. It also answers gRPC's standard
// health service (grpc.health.v1.Health Check and Watch: SERVING while the service is
// ready), and ModelMesh's mmesh.ModelRuntime when asked (GrpcServerOptions::model_runtime).
// Every RPC is served from one completion queue by the server's own threads (CallQueue).
// gRPC's headers stay inside src/grpc's .cc files: this header pulls in none.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/inference_service.h"
#include "server/model_runtime.h"
#include "server/shared_memory.h"

namespace modelgrid::rpc {

struct GrpcServerOptions {
  std::string address = "127.0.0.1";  // "0.0.0.0" or "::" to serve other machines
  uint16_t port = 8001;               // Triton's; 0 picks a free one (see port())
  // When not empty, every RPC but ServerLive and the health service needs metadata
  // "authorization: Bearer <key>"; others get UNAUTHENTICATED.
  std::string api_key;
  // The largest request message; a larger one gets RESOURCE_EXHAUSTED. Responses are not
  // limited by the server (the client sets its own receive limit).
  uint64_t max_message_bytes = uint64_t{64} << 20;
  // Keepalive, as Triton's flags of the same names (milliseconds): pings every
  // keepalive_time_ms on an idle connection, dropped when unanswered for
  // keepalive_timeout_ms; clients may ping without calls when permitted, no more often than
  // every http2_min_recv_ping_interval_without_data_ms, else after http2_max_ping_strikes
  // bad pings the connection is closed.
  int64_t keepalive_time_ms = 7'200'000;
  int64_t keepalive_timeout_ms = 20'000;
  bool keepalive_permit_without_calls = false;
  int http2_max_pings_without_data = 2;
  int64_t http2_min_recv_ping_interval_without_data_ms = 300'000;
  int http2_max_ping_strikes = 2;
  // The registered shared-memory regions, shared with the HTTP front end (borrowed; must
  // outlive the server); null: the server keeps its own.
  server::SystemSharedMemory* shared_memory = nullptr;
  // When set (borrowed; must outlive the server), KServe ModelMesh's model-runtime SPI
  // (mmesh.ModelRuntime) is served too, under the same api_key rule.
  server::ModelRuntime* model_runtime = nullptr;
};

class GrpcServer {
 public:
  // Binds, listens and starts serving. `service` is borrowed and must outlive the server.
  // kUnavailable when the address cannot be bound, kInvalidArgument for a bad option.
  static Result<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                   server::InferenceService& service);
  ~GrpcServer();  // Stop() with a zero deadline if it was not called
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  uint16_t port() const;  // the port bound

  // Graceful shutdown: health turns NOT_SERVING (Watch streams are told, then end with
  // UNAVAILABLE); open streams read no more requests, answer those they have and end with
  // UNAVAILABLE; new calls are refused; calls in flight get up to `deadline`, then are
  // cancelled. Blocks until every call has ended; idempotent.
  void Stop(std::chrono::milliseconds deadline = std::chrono::seconds(30));

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrid::rpc
