// grpc.health.v1.Health (proto/health.proto, gRPC's health checking protocol), served from
// a CallQueue: Check answers SERVING or NOT_SERVING for the server ("") and each service
// named at construction, NOT_FOUND for any other; Watch sends the status at once and again
// on every change (SERVICE_UNKNOWN for a service it does not know). No API key is needed:
// probes carry none. Thread-safe.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <grpcpp/support/async_stream.h>

#include "common/mutex.h"
#include "grpc/call_queue.h"
#include "health.grpc.pb.h"

namespace modelgrid::rpc {

class HealthRpcs {
 public:
  explicit HealthRpcs(std::vector<std::string> services) : services_(std::move(services)) {}

  // What ServerBuilder::RegisterService takes.
  ::grpc::Service* grpc_service() { return &async_; }
  // Serves Check and Watch on `queue`, once the server is built.
  void Serve(CallQueue& queue);

  // Every known service is SERVING (or NOT_SERVING); open Watch streams are told.
  void SetServing(bool serving) EXCLUDES(mu_);
  // NOT_SERVING for good: every Watch stream is told, then ends with UNAVAILABLE, and one
  // opened later ends at once. Call before the server's Shutdown, which waits for them.
  void Shutdown() EXCLUDES(mu_);

 private:
  using Response = grpc::health::v1::HealthCheckResponse;
  class Watch;

  bool Known(const std::string& service) const;
  Response::ServingStatus StatusLocked(const std::string& service) const REQUIRES(mu_);

  const std::vector<std::string> services_;
  grpc::health::v1::Health::AsyncService async_;
  CallQueue* queue_ = nullptr;
  Mutex mu_;  // guards this and every open Watch
  bool serving_ GUARDED_BY(mu_) = false;
  bool shut_down_ GUARDED_BY(mu_) = false;
  std::set<Watch*> watches_ GUARDED_BY(mu_);
};

}  // namespace modelgrid::rpc
