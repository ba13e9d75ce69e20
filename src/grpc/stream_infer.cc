#include "grpc/stream_infer.h"

#include <vector>

#include "grpc/grpc_status.h"
#include "grpc/infer_call.h"

namespace modelgrid::rpc {

void StreamRegistry::Add(std::shared_ptr<StreamInferReactor> stream) {
  bool drain = false;
  {
    MutexLock lock(&mu_);
    streams_[stream.get()] = stream;
    drain = draining_;
  }
  if (drain) stream->Drain();
}

void StreamRegistry::Remove(StreamInferReactor* stream) {
  MutexLock lock(&mu_);
  streams_.erase(stream);
}

void StreamRegistry::DrainAll() {
  std::vector<std::shared_ptr<StreamInferReactor>> open;
  {
    MutexLock lock(&mu_);
    draining_ = true;
    for (const auto& [raw, stream] : streams_) open.push_back(stream);
  }
  // Outside the lock: a stream that finishes now calls Remove. The references keep each
  // stream alive until its Drain returns.
  for (const auto& s : open) s->Drain();
}

bool StreamRegistry::draining() const {
  MutexLock lock(&mu_);
  return draining_;
}

StreamInferReactor* StreamInferReactor::Start(server::InferenceService& service,
                                              const server::SystemSharedMemory& shm,
                                              StreamRegistry& registry) {
  auto stream = std::make_shared<StreamInferReactor>(service, shm, registry);
  stream->StartRead(&stream->incoming_);
  registry.Add(stream);  // drains it at once if the server is draining
  return stream.get();
}

void StreamInferReactor::Drain() {
  {
    MutexLock lock(&mu_);
    draining_ = true;
  }
  Advance();
}

void StreamInferReactor::OnReadDone(bool ok) {
  if (!ok) {
    {
      MutexLock lock(&mu_);
      reads_done_ = true;
    }
    return Advance();
  }
  inference::ModelInferRequest request;
  request.Swap(&incoming_);
  Slot* slot = nullptr;
  bool refuse = false;
  {
    MutexLock lock(&mu_);
    ++in_read_;
    slots_.push_back(std::make_unique<Slot>());
    slot = slots_.back().get();
    refuse = draining_;
    if (!refuse) ++in_service_;
  }
  if (refuse) {
    Answered(slot, Status(StatusCode::kUnavailable, "the server is shutting down"), false);
  } else {
    auto* infer_response = slot->response.mutable_infer_response();
    // Kept for an error response, which needs them after the request's fields moved.
    infer_response->set_model_name(request.model_name());
    infer_response->set_model_version(request.model_version());
    infer_response->set_id(request.id());
    InferOne(service_, shm_, request, infer_response,
             [this, slot](Status st) { Answered(slot, st, true); });
  }
  bool more = false;
  {
    MutexLock lock(&mu_);
    more = !draining_ && !broken_;
    if (more && slots_.size() >= kMaxStreamBacklog) {
      read_paused_ = true;  // OnWriteDone resumes
      more = false;
    }
  }
  if (more) StartRead(&incoming_);
  {
    MutexLock lock(&mu_);
    --in_read_;
  }
  Advance();
}

void StreamInferReactor::Answered(Slot* slot, const Status& status, bool from_service) {
  {
    MutexLock lock(&mu_);
    if (from_service) --in_service_;
    if (!status.ok()) {
      slot->response.set_error_message(status.message());
      // The request's identity stays; whatever was filled of a response goes.
      auto* r = slot->response.mutable_infer_response();
      r->clear_outputs();
      r->clear_raw_output_contents();
      r->clear_parameters();
    }
    slot->ready = true;
  }
  Advance();
}

void StreamInferReactor::OnWriteDone(bool ok) {
  bool resume = false;
  {
    MutexLock lock(&mu_);
    slots_.pop_front();
    writing_ = false;
    if (!ok) broken_ = true;
    if (read_paused_ && !draining_ && !broken_ && !finished_ && slots_.size() < kMaxStreamBacklog) {
      read_paused_ = false;
      resume = true;
      ++in_read_;  // no Finish before this StartRead
    }
  }
  if (resume) {
    StartRead(&incoming_);
    MutexLock lock(&mu_);
    --in_read_;
  }
  Advance();
}

void StreamInferReactor::OnCancel() {
  {
    MutexLock lock(&mu_);
    broken_ = true;
  }
  Advance();
}

void StreamInferReactor::Advance() {
  const inference::ModelStreamInferResponse* write = nullptr;
  bool finish = false;
  ::grpc::Status status = ::grpc::Status::OK;
  {
    MutexLock lock(&mu_);
    if (finished_ || writing_) return;
    if (broken_) {
      // Nothing more reaches the client: answered requests are dropped as they come.
      while (!slots_.empty() && slots_.front()->ready) slots_.pop_front();
    } else if (!slots_.empty() && slots_.front()->ready) {
      writing_ = true;
      write = &slots_.front()->response;
    }
    if (!write && in_service_ == 0 && in_read_ == 0 && (slots_.empty() || broken_) &&
        (reads_done_ || draining_ || broken_)) {
      finished_ = true;
      finish = true;
      if (draining_ && !reads_done_) {
        status = ToGrpc(Status(StatusCode::kUnavailable, "the server is shutting down"));
      }
    }
  }
  if (write) return StartWrite(write);
  if (finish) Finish(status);
}

void StreamInferReactor::OnDone() { registry_.Remove(this); }

}  // namespace modelgrid::rpc
