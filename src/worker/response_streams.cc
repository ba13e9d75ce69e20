#include "worker/response_streams.h"

#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "ipc/arena.h"
#include "ipc/message.h"
#include "serve/worker_protocol.h"

namespace modelgrid {

Status WriteOutputs(ipc::ShmSegment& segment, const std::vector<HostTensor>& outputs,
                    const ipc::Message& request, ipc::Message* reply) {
  if (outputs.size() > ipc::kMaxTensorsPerMessage) {
    return OutOfRange("model returned " + std::to_string(outputs.size()) + " outputs; at most " +
                      std::to_string(ipc::kMaxTensorsPerMessage) + " are supported");
  }
  std::vector<uint64_t> sizes;
  for (const HostTensor& out : outputs) sizes.push_back(out.data.size());
  const uint64_t needed = ipc::RegionWriter::RegionBytesFor(sizes);
  if (needed > request.response_bytes) {
    reply->response_needed = needed;
    return ResourceExhausted("outputs need " + std::to_string(needed) +
                             " bytes but the response region has " +
                             std::to_string(request.response_bytes));
  }
  ipc::RegionWriter writer(request.response_offset, request.response_bytes);
  for (const HostTensor& out : outputs) {
    MG_ASSIGN_OR_RETURN(uint64_t offset, writer.Allocate(out.data.size()));
    std::memcpy(segment.arena() + offset, out.data.data(), out.data.size());
    MG_RETURN_IF_ERROR(ipc::AddTensor(reply, WireFromTensorDType(out.dtype), out.shape, offset,
                                      out.data.size(), out.name));
  }
  return Status::Ok();
}

// One response waiting to be written: outputs, an error, or (with `final`) nothing.
struct Queued {
  std::optional<Result<std::vector<HostTensor>>> response;
  bool final = false;
};

struct ResponseStreams::Stream {
  ipc::Message request;  // id, slot, doorbell, and the region the latest ack gave
  std::deque<Queued> queue;
  bool awaiting_ack = false;  // a response is in the region, unread by the server
  bool final_sent = false;    // the model sent its final response (it may still be queued)
  bool cancelled = false;     // the server gave up on it
};

struct ResponseStreams::Shared {
  Shared(ipc::ShmSegment& segment, Answer answer) : segment(&segment), answer(std::move(answer)) {}

  // Writes queued responses while the region is free.
  void Pump(Stream& s) REQUIRES(mu) {
    while (!s.awaiting_ack && !s.queue.empty() && segment != nullptr) {
      Queued& next = s.queue.front();
      ipc::Message reply =
          ipc::MakeMessage(s.request.request_id, ipc::Op::kInfer, s.request.model_slot);
      reply.response_offset = s.request.response_offset;
      reply.response_bytes = s.request.response_bytes;
      reply.reply_doorbell = s.request.reply_doorbell;
      Status st;
      if (!next.response) {
        reply.flags |= ipc::kFlagNoResponse;
      } else if (!next.response->ok()) {
        st = next.response->status();
      } else {
        st = WriteOutputs(*segment, **next.response, s.request, &reply);
        if (st.code() == StatusCode::kResourceExhausted && reply.response_needed > 0) {
          // Not a response: a request for a larger region, in the ack. Written again then.
          reply.num_tensors = 0;
          reply.flags = ipc::kFlagMore;
          ipc::SetStatus(&reply, st);
          s.awaiting_ack = true;
          answer(reply);
          return;
        }
      }
      if (!st.ok()) {
        reply.num_tensors = 0;
        reply.response_needed = 0;
        ipc::SetStatus(&reply, st);
      }
      const bool final = next.final;
      s.queue.pop_front();
      room.NotifyAll();
      if (!final) {
        reply.flags |= ipc::kFlagMore;
        s.awaiting_ack = true;
      }
      answer(reply);
      if (final) {
        streams.erase(s.request.request_id);  // `s` may go with it
        return;
      }
    }
  }

  Mutex mu;
  CondVar room;                             // a queue got shorter, or a stream ended
  ipc::ShmSegment* segment GUARDED_BY(mu);  // null once closed
  const Answer answer;
  std::map<uint64_t, std::shared_ptr<Stream>> streams GUARDED_BY(mu);
};

class ResponseStreams::Sink final : public ResponseSink {
 public:
  Sink(std::shared_ptr<Shared> shared, std::shared_ptr<Stream> stream)
      : shared_(std::move(shared)), stream_(std::move(stream)) {}

  Status Send(std::optional<Result<std::vector<HostTensor>>> response, bool final) override {
    if (!response && !final) {
      return InvalidArgument("a response sender sends a response, the final flag, or both");
    }
    MutexLock lock(&shared_->mu);
    Stream& s = *stream_;
    if (s.final_sent) {
      return Status(StatusCode::kUnavailable,
                    "the request's final response was sent already: its response sender is "
                    "closed");
    }
    // A model that sends faster than its client reads waits here for room.
    while (s.queue.size() >= kMaxQueuedResponses && !s.cancelled && shared_->segment != nullptr) {
      shared_->room.Wait(&shared_->mu);
    }
    if (s.cancelled || shared_->segment == nullptr) {
      return Status(StatusCode::kUnavailable,
                    "the request was cancelled (the server gave up on it, or the worker is "
                    "stopping)");
    }
    s.final_sent = final;
    s.queue.push_back({std::move(response), final});
    shared_->Pump(s);
    return Status::Ok();
  }

  bool cancelled() const override {
    MutexLock lock(&shared_->mu);
    return stream_->cancelled || shared_->segment == nullptr;
  }

 private:
  const std::shared_ptr<Shared> shared_;
  const std::shared_ptr<Stream> stream_;
};

ResponseStreams::ResponseStreams(ipc::ShmSegment& segment, Answer answer)
    : shared_(std::make_shared<Shared>(segment, std::move(answer))) {}

std::shared_ptr<ResponseSink> ResponseStreams::Open(const ipc::Message& request) {
  auto stream = std::make_shared<Stream>();
  stream->request = request;
  stream->request.num_tensors = 0;
  {
    MutexLock lock(&shared_->mu);
    shared_->streams[request.request_id] = stream;
  }
  return std::make_shared<Sink>(shared_, std::move(stream));
}

void ResponseStreams::OnAck(const ipc::Message& ack) {
  MutexLock lock(&shared_->mu);
  auto it = shared_->streams.find(ack.request_id);
  if (it == shared_->streams.end()) return;
  std::shared_ptr<Stream> s = it->second;
  if (ack.response_bytes == 0) {  // the server gave up on it
    s->cancelled = true;
    s->queue.clear();
    shared_->streams.erase(it);
    shared_->room.NotifyAll();
    return;
  }
  s->request.response_offset = ack.response_offset;
  s->request.response_bytes = ack.response_bytes;
  s->awaiting_ack = false;
  shared_->Pump(*s);
}

void ResponseStreams::Close() {
  MutexLock lock(&shared_->mu);
  shared_->segment = nullptr;
  for (auto& [id, s] : shared_->streams) s->cancelled = true;
  shared_->streams.clear();
  shared_->room.NotifyAll();
}

size_t ResponseStreams::open() const {
  MutexLock lock(&shared_->mu);
  return shared_->streams.size();
}

}  // namespace modelgrid
