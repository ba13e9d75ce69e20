#include "grpc/health_rpcs.h"

#include <algorithm>

#include "grpc/unary_call.h"

namespace modelgrid::rpc {

// One Watch stream: it writes the latest status whenever it differs from the last written,
// one write at a time, and ends when the server shuts down or the client leaves.
class HealthRpcs::Watch {
 public:
  static void Ask(HealthRpcs* health) {
    auto* watch = new Watch(health);
    health->queue_->Enter();
    watch->context_.AsyncNotifyWhenDone(&watch->done_);
    ::grpc::ServerCompletionQueue* cq = health->queue_->cq();
    health->async_.RequestWatch(&watch->context_, &watch->request_, &watch->writer_, cq, cq,
                                &watch->arrived_);
  }

  // The status changed, or the server is shutting down (health_->shut_down_), or an
  // operation completed: writes the status if it is new, or ends the stream. Call with
  // health_->mu_ held.
  void Advance() {
    health_->mu_.AssertHeld();
    if (writing_ || finishing_) return;
    const Response::ServingStatus now = health_->StatusLocked(request_.service());
    if (!broken_ && now != written_) {
      writing_ = true;
      ++pending_;
      sending_.set_status(now);
      writer_.Write(sending_, &wrote_);
    } else if (broken_ || health_->shut_down_) {
      finishing_ = true;
      writer_.Finish(
          broken_ ? ::grpc::Status::CANCELLED
                  : ::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "the server is shutting down"),
          &finished_);
    }
  }

 private:
  explicit Watch(HealthRpcs* health) : health_(health), writer_(&context_) {}

  void OnArrived(bool ok) {
    if (!ok) {  // never matched: the server is shutting down (no done tag comes)
      return health_->queue_->End(this);
    }
    Ask(health_);
    MutexLock lock(&health_->mu_);
    health_->watches_.insert(this);
    Advance();
  }
  void OnWrote(bool ok) {
    {
      MutexLock lock(&health_->mu_);
      writing_ = false;
      if (ok) written_ = sending_.status();
      if (!ok) broken_ = true;
      Advance();
    }
    End();
  }
  void OnFinished(bool) { End(); }
  void OnDone(bool) {
    {
      MutexLock lock(&health_->mu_);
      if (context_.IsCancelled()) broken_ = true;
      Advance();
    }
    End();
  }
  // The Finish or the call completed, or a write did: after the last, the watch goes.
  void End() {
    {
      MutexLock lock(&health_->mu_);
      if (--pending_ != 0) return;
      health_->watches_.erase(this);
    }
    health_->queue_->End(this);
  }

  HealthRpcs* const health_;
  ::grpc::ServerContext context_;
  grpc::health::v1::HealthCheckRequest request_;
  ::grpc::ServerAsyncWriter<Response> writer_;
  Response sending_;
  MemberTag<Watch> arrived_{this, &Watch::OnArrived};
  MemberTag<Watch> wrote_{this, &Watch::OnWrote};
  MemberTag<Watch> finished_{this, &Watch::OnFinished};
  MemberTag<Watch> done_{this, &Watch::OnDone};
  // The last status written; none yet (UNKNOWN is never sent).
  Response::ServingStatus written_ GUARDED_BY(health_->mu_) = Response::UNKNOWN;
  bool writing_ GUARDED_BY(health_->mu_) = false;
  bool finishing_ GUARDED_BY(health_->mu_) = false;
  bool broken_ GUARDED_BY(health_->mu_) = false;  // cancelled, or a write failed
  // The call's completion, the Finish, and a write in flight.
  int pending_ GUARDED_BY(health_->mu_) = 2;
};

bool HealthRpcs::Known(const std::string& service) const {
  return service.empty() ||
         std::find(services_.begin(), services_.end(), service) != services_.end();
}

HealthRpcs::Response::ServingStatus HealthRpcs::StatusLocked(const std::string& service) const {
  if (!Known(service)) return Response::SERVICE_UNKNOWN;
  return serving_ && !shut_down_ ? Response::SERVING : Response::NOT_SERVING;
}

void HealthRpcs::Serve(CallQueue& queue) {
  queue_ = &queue;
  using Service = grpc::health::v1::Health::AsyncService;
  using Request = grpc::health::v1::HealthCheckRequest;
  ServeUnary(queue, &async_, &Service::RequestCheck, [this](UnaryCall<Request, Response>& call) {
    const std::string& service = call.request().service();
    if (!Known(service)) {
      return call.Finish(
          ::grpc::Status(::grpc::StatusCode::NOT_FOUND, "unknown service \"" + service + "\""));
    }
    {
      MutexLock lock(&mu_);
      call.response().set_status(StatusLocked(service));
    }
    call.Finish(::grpc::Status::OK);
  });
  Watch::Ask(this);
}

void HealthRpcs::SetServing(bool serving) {
  MutexLock lock(&mu_);
  if (serving_ == serving) return;
  serving_ = serving;
  for (Watch* w : watches_) w->Advance();
}

void HealthRpcs::Shutdown() {
  MutexLock lock(&mu_);
  shut_down_ = true;
  for (Watch* w : watches_) w->Advance();
}

}  // namespace modelgrid::rpc
