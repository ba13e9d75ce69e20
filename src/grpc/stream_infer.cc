#include "grpc/stream_infer.h"

#include <algorithm>
#include <vector>

#include "grpc/grpc_status.h"
#include "grpc/infer_call.h"

namespace modelgrid::rpc {

namespace {

// Triton's request parameter asking for the end of every request to be told, and the
// response parameter that tells it.
constexpr const char* kEmptyFinalParameter = "triton_enable_empty_final_response";
constexpr const char* kFinalParameter = "triton_final_response";

}  // namespace

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

void StreamInferReactor::Start(StreamCall& call, server::InferenceService& service,
                               const server::SystemSharedMemory& shm, StreamRegistry& registry) {
  auto stream = std::make_shared<StreamInferReactor>(call, service, shm, registry);
  stream->StartRead(&stream->incoming_);
  registry.Add(stream);  // drains it at once if the server is draining
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
    ++in_service_;  // until Responded gets its final response
  }
  auto asked = std::make_shared<Asked>();
  asked->last = slot;
  // Kept for error and empty final responses, which need them after the request's
  // fields moved.
  asked->model = request.model_name();
  asked->version = request.model_version();
  asked->id = request.id();
  auto* params = request.mutable_parameters();
  Status flag = Status::Ok();
  if (auto it = params->find(kEmptyFinalParameter); it != params->end()) {
    if (it->second.parameter_choice_case() != inference::InferParameter::kBoolParam) {
      flag = InvalidArgument(std::string("the request's parameters: \"") + kEmptyFinalParameter +
                             "\" must be a bool");
    }
    asked->empty_final = it->second.bool_param();
    params->erase(it);
  }
  auto answer = [this, asked](std::optional<Result<inference::ModelInferResponse>> response,
                              bool final) { Responded(*asked, std::move(response), final); };
  if (refuse) {
    answer(Status(StatusCode::kUnavailable, "the server is shutting down"), true);
  } else if (!flag.ok()) {
    answer(flag, true);
  } else {
    InferOneStream(service_, shm_, request, answer);
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

void StreamInferReactor::Responded(Asked& asked,
                                   std::optional<Result<inference::ModelInferResponse>> response,
                                   bool final) {
  {
    MutexLock lock(&mu_);
    if (final) --in_service_;
    // asked.last is the request's slot for its next response, never ready before it comes:
    // the slots of the requests after it wait behind it.
    auto at = std::find_if(slots_.begin(), slots_.end(),
                           [&](const std::unique_ptr<Slot>& s) { return s.get() == asked.last; });
    if (!response && !asked.empty_final) {
      if (at != slots_.end()) slots_.erase(at);  // the end, with nothing to send
    } else if (at != slots_.end()) {
      Slot& slot = **at;
      auto* r = slot.response.mutable_infer_response();
      if (response && response->ok()) *r = std::move(response->value());
      if (response && !response->ok())
        slot.response.set_error_message(response->status().message());
      if (!response || !response->ok()) {
        r->set_model_name(asked.model);
        r->set_model_version(asked.version);
        r->set_id(asked.id);
      }
      if (asked.empty_final) (*r->mutable_parameters())[kFinalParameter].set_bool_param(final);
      slot.ready = true;
      if (!final) asked.last = slots_.insert(at + 1, std::make_unique<Slot>())->get();
    }
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
