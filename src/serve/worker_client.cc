#include "serve/worker_client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "ipc/heartbeat.h"
#include "ipc/message.h"
#include "ipc/ring.h"

namespace modelgrid {

Result<std::unique_ptr<WorkerClient>> WorkerClient::Create(const std::string& name,
                                                           const ipc::ShmOptions& options,
                                                           size_t doorbells) {
  MG_ASSIGN_OR_RETURN(auto segment, ipc::ShmSegment::Create("modelgrid-" + name, options));
  std::vector<ipc::Doorbell> bells;
  for (size_t i = 0; i < std::max<size_t>(doorbells, 1); ++i) {
    MG_ASSIGN_OR_RETURN(auto bell, ipc::Doorbell::Create());
    bells.push_back(std::move(bell));
  }
  std::unique_ptr<WorkerClient> client(
      new WorkerClient(name, std::move(segment), std::move(bells)));
  client->StartThread();
  return client;
}

WorkerClient::WorkerClient(std::string name, std::unique_ptr<ipc::ShmSegment> segment,
                           std::vector<ipc::Doorbell> doorbells)
    : name_(std::move(name)),
      segment_(std::move(segment)),
      doorbells_(std::move(doorbells)),
      arena_(segment_->arena_bytes()) {}

std::vector<int> WorkerClient::doorbell_fds() const {
  std::vector<int> fds;
  for (const auto& bell : doorbells_) fds.push_back(bell.fd());
  return fds;
}

WorkerClient::~WorkerClient() {
  UseEventLoop(nullptr);
  OnWorkerExit("server shutting down");
  StopThread();
}

void WorkerClient::UseEventLoop(server::EventLoop* loop) {
  MutexLock mode(&mode_mu_);
  if (loop == nullptr) {
    if (watches_.empty()) return;
    watches_.clear();  // waits for running OnDoorbell calls
    StartThread();
    return;
  }
  if (!watches_.empty()) return;
  StopThread();
  for (size_t i = 0; i < doorbells_.size(); ++i) {
    auto watch = loop->WatchEventFd(i, doorbells_[i].fd(), [this] { OnDoorbell(); });
    if (!watch) {
      watches_.clear();
      return StartThread();
    }
    watches_.push_back(std::move(watch));
  }
  // Replies that came while neither consumer ran, and the flag that makes the worker ring:
  // the first OnDoorbell takes care of both.
  (void)doorbells_[0].Ring();
}

void WorkerClient::OnDoorbell() {
  // A loop that finds another draining leaves it a note; the drainer looks at the note
  // after unlocking, so a reply pushed just after the drainer's last look is not left
  // behind.
  drain_wanted_ = true;
  while (drain_wanted_) {
    if (!pump_mu_.TryLock()) return;
    drain_wanted_ = false;
    ipc::ResponseRing responses = segment_->responses();
    do {
      responses.Wake();  // pushes during the drain need not ring
      ipc::Message msg;
      while (responses.TryPop(&msg)) Deliver(msg);
    } while (!responses.Sleep());
    pump_mu_.Unlock();
  }
}

void WorkerClient::StartThread() {
  thread_running_ = true;
  responses_thread_ = std::thread([this] { ResponseLoop(); });
}

void WorkerClient::StopThread() {
  thread_running_ = false;
  if (responses_thread_.joinable()) responses_thread_.join();
}

void WorkerClient::MarkUp() {
  up_since_ms_ = ipc::MonotonicNowMs();
  up_ = true;
}

uint64_t WorkerClient::SilentMs(uint64_t now_ms, bool* starting) const {
  const uint64_t beat = ipc::Heartbeat(&segment_->header()).last_beat_ms();
  const uint64_t up = up_since_ms_.load();
  *starting = beat < up;  // the last beat, if any, is a previous worker's
  const uint64_t since = std::max(beat, up);
  return now_ms > since ? now_ms - since : 0;
}

bool WorkerClient::HeartbeatAlive(uint64_t max_age_ms) const {
  return ipc::Heartbeat(&segment_->header()).IsAlive(max_age_ms);
}

uint64_t WorkerClient::in_flight() const {
  MutexLock lock(&mu_);
  return pending_.size();
}

size_t WorkerClient::waiting() const {
  MutexLock lock(&mu_);
  return waiting_.size();
}

void WorkerClient::Call(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                        uint64_t response_bytes, Callback done) {
  Start(op, slot, inputs, response_bytes, false,
        [done = std::move(done)](std::optional<Result<Reply>> reply, bool) {
          done(reply ? std::move(*reply) : Result<Reply>(Reply{}));
        });
}

void WorkerClient::CallStream(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                              uint64_t response_bytes, StreamCallback each) {
  Start(op, slot, inputs, response_bytes, true, std::move(each));
}

void WorkerClient::Start(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                         uint64_t response_bytes, bool stream, StreamCallback each) {
  Status failed = Status::Ok();
  {
    MutexLock lock(&mu_);
    failed = SendOrQueue(op, slot, inputs, response_bytes, stream, each);
  }
  if (!failed.ok()) each(std::move(failed), true);  // outside the lock: it may call again
}

Status WorkerClient::SendOrQueue(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                                 uint64_t response_bytes, bool stream, StreamCallback& done) {
  if (!up_) return Status(StatusCode::kUnavailable, "worker " + name_ + " is restarting");
  const auto reply_doorbell = static_cast<uint32_t>(std::max(server::CurrentEventLoop(), 0));
  bool room_later = true;
  if (waiting_.empty()) {  // else this call queues behind the waiting ones
    Status sent =
        Submit(op, slot, inputs, response_bytes, reply_doorbell, stream, done, &room_later);
    if (sent.ok()) return Status::Ok();
    if (!room_later) return sent.WithContext("worker " + name_);
  }
  if (waiting_.size() >= kMaxWaitingCalls) {
    return Status(StatusCode::kUnavailable, "worker " + name_ + " has " +
                                                std::to_string(waiting_.size()) +
                                                " calls waiting for room; try again later");
  }
  Waiting w;
  w.op = op;
  w.slot = slot;
  w.response_bytes = response_bytes;
  w.reply_doorbell = reply_doorbell;
  w.stream = stream;
  w.done = std::move(done);
  w.bytes.reserve(inputs.size());
  for (const CallTensor& t : inputs) {
    w.bytes.emplace_back(static_cast<const char*>(t.data), t.bytes);
    CallTensor own = t;
    own.data = w.bytes.back().data();
    w.inputs.push_back(std::move(own));
  }
  waiting_.push_back(std::move(w));
  return Status::Ok();
}

Status WorkerClient::Place(const std::vector<CallTensor>& inputs, uint64_t response_bytes,
                           Pending& p, bool* room_later) {
  for (const CallTensor& t : inputs) {
    auto offset = arena_.Allocate(t.bytes);
    if (!offset.ok()) return offset.status();
    p.input_offsets.push_back(*offset);
    std::memcpy(segment_->arena() + *offset, t.data, t.bytes);
    Status added = ipc::AddTensor(&p.request, static_cast<ipc::WireDType>(t.wire_dtype), t.shape,
                                  *offset, t.bytes, t.name);
    if (!added.ok()) {
      *room_later = false;
      return added;
    }
  }
  auto region = arena_.Allocate(response_bytes);
  if (!region.ok()) return region.status();
  p.request.response_offset = *region;
  p.request.response_bytes = response_bytes;
  p.has_region = true;
  if (!segment_->requests().TryPush(p.request)) {
    return Status(StatusCode::kUnavailable, "request queue is full");
  }
  return Status::Ok();
}

Status WorkerClient::Submit(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                            uint64_t response_bytes, uint32_t reply_doorbell, bool stream,
                            StreamCallback& done, bool* room_later) {
  std::vector<uint64_t> sizes;
  for (const CallTensor& t : inputs) sizes.push_back(t.bytes);
  sizes.push_back(response_bytes);
  *room_later = ipc::RegionWriter::RegionBytesFor(sizes) + sizes.size() * ipc::kArenaAlignBytes <=
                arena_.capacity_bytes();
  Pending p;
  p.request = ipc::MakeMessage(next_id_, static_cast<ipc::Op>(op), slot);
  p.request.reply_doorbell = reply_doorbell;
  if (Status placed = Place(inputs, response_bytes, p, room_later); !placed.ok()) {
    Release(p);
    return placed;
  }
  p.done = std::move(done);
  p.stream = stream;
  pending_.emplace(next_id_++, std::move(p));
  return Status::Ok();
}

void WorkerClient::SubmitWaiting(std::vector<Failure>* failed) {
  while (!waiting_.empty() && up_) {
    Waiting& w = waiting_.front();
    bool room_later = true;
    Status sent = Submit(w.op, w.slot, w.inputs, w.response_bytes, w.reply_doorbell, w.stream,
                         w.done, &room_later);
    if (!sent.ok() && room_later) return;  // still no room: the next reply tries again
    if (!sent.ok()) failed->emplace_back(std::move(w.done), sent.WithContext("worker " + name_));
    waiting_.pop_front();
  }
}

bool WorkerClient::Resend(Pending& p, uint64_t bytes) {
  // The worker has replied, so the old region is free to go first: the new one may need
  // its room (the largest request's input and output fill the arena between them).
  (void)arena_.Free(p.request.response_offset);
  p.has_region = false;
  auto region = arena_.Allocate(bytes);
  if (!region.ok()) return false;
  ipc::Message again = p.request;
  again.response_offset = *region;
  again.response_bytes = bytes;
  if (!segment_->requests().TryPush(again)) {
    (void)arena_.Free(*region);
    return false;
  }
  p.request = again;
  p.has_region = true;
  p.resent = true;
  return true;
}

void WorkerClient::Release(const Pending& p) {
  for (uint64_t off : p.input_offsets) (void)arena_.Free(off);
  if (p.has_region) (void)arena_.Free(p.request.response_offset);
}

void WorkerClient::ResponseLoop() {
  ipc::ResponseRing responses = segment_->responses();
  while (thread_running_) {
    ipc::Message msg;
    Status popped = responses.Pop(&msg, 50);
    if (popped.ok()) Deliver(msg);  // else a timeout, or a ring being reset
  }
}

Result<Reply> WorkerClient::ReadReply(const ipc::Message& msg, const Pending& p) {
  MG_RETURN_IF_ERROR(ipc::ValidateResponse(msg, segment_->arena_bytes(), p.request.response_offset,
                                           p.request.response_bytes));
  Reply reply;
  reply.text.assign(msg.text, strnlen(msg.text, sizeof msg.text));
  for (uint32_t i = 0; i < msg.num_tensors; ++i) {
    const ipc::TensorDesc& d = msg.tensors[i];
    MG_ASSIGN_OR_RETURN(auto bytes,
                        ipc::TensorBytes(segment_->arena(), segment_->arena_bytes(), d));
    ReplyTensor t;
    t.name = std::string(ipc::TensorName(d));
    t.wire_dtype = d.dtype;
    t.shape.assign(d.dims, d.dims + d.ndims);
    t.data.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    reply.outputs.push_back(std::move(t));
  }
  return reply;
}

void WorkerClient::SendAck(uint64_t id, uint64_t region_offset, uint64_t region_bytes) {
  ipc::Message ack = ipc::MakeMessage(id, ipc::Op::kStreamAck, 0);
  ack.response_offset = region_offset;
  ack.response_bytes = region_bytes;
  // The worker pops requests without waiting for their execution, so a full ring empties
  // soon; a worker that stops popping is the watchdog's to restart.
  for (int tries = 0;; ++tries) {
    {
      MutexLock lock(&mu_);
      if (!up_ || (region_bytes > 0 && pending_.count(id) == 0)) return;
      ack.reply_doorbell = region_bytes > 0 ? pending_[id].request.reply_doorbell : 0;
      if (segment_->requests().TryPush(ack)) return;
    }
    if (tries > 10'000) return;  // ~10 s: the worker is stuck
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void WorkerClient::AbandonStreams(uint32_t slot, const Status& why) {
  std::vector<StreamCallback> ended;
  {
    MutexLock lock(&mu_);
    for (auto& [id, p] : pending_) {
      if (!p.stream || p.abandoned || p.request.model_slot != slot) continue;
      p.abandoned = true;
      // Moved out: what the callback holds (its request's tickets) goes with this call,
      // not with the region that waits for the worker.
      ended.push_back(std::move(p.done));
      p.done = nullptr;
    }
  }
  for (auto& each : ended) each(why, true);
}

void WorkerClient::DeliverPart(const ipc::Message& msg) {
  StreamCallback each;
  std::optional<Result<Reply>> part;
  bool ended = false;       // the call failed here: `part` is its final error
  uint64_t ack_offset = 0;  // the region the worker may use next
  uint64_t ack_bytes = 0;
  bool deliver = true;  // `part` is a response (not a request for a larger region)
  bool silent = false;  // an abandoned call: nobody to tell
  {
    MutexLock lock(&mu_);
    auto it = pending_.find(msg.request_id);
    if (it == pending_.end()) return;  // failed by OnWorkerExit, or ended here
    Pending& p = it->second;
    const Status st = ipc::StatusOf(msg);
    if (p.abandoned) {  // answered already: end it in the worker, and the region is free
      Release(p);
      pending_.erase(it);
      silent = true;
    } else if (!p.stream) {
      part = Result<Reply>(Internal("the worker answered a single-response call in parts"));
      ended = true;
    } else if (st.code() == StatusCode::kResourceExhausted && msg.response_needed > 0) {
      // The next response needs a larger region: the old one goes first (it holds nothing).
      deliver = false;
      if (p.has_region) (void)arena_.Free(p.request.response_offset);
      p.has_region = false;
      auto region = arena_.Allocate(msg.response_needed);
      if (region.ok()) {
        p.has_region = true;
        p.request.response_offset = *region;
        p.request.response_bytes = msg.response_needed;
        ack_offset = *region;
        ack_bytes = msg.response_needed;
      } else {
        part = Result<Reply>(Status(StatusCode::kResourceExhausted,
                                    "a response of " + std::to_string(msg.response_needed) +
                                        " bytes finds no room in worker " + name_ +
                                        "'s arena: " + region.status().message()));
        ended = true;
      }
    } else {
      part = st.ok() ? ReadReply(msg, p) : Result<Reply>(st);
      ack_offset = p.request.response_offset;
      ack_bytes = p.request.response_bytes;
    }
    if (!silent) each = p.done;
    if (ended) {
      Release(p);
      pending_.erase(it);
    }
  }
  if (silent) return SendAck(msg.request_id, 0, 0);
  if (ended) {
    SendAck(msg.request_id, 0, 0);  // cancels the stream in the worker
    each(std::move(part), true);
    return;
  }
  if (deliver) each(std::move(part), false);  // read out of the region before the ack
  SendAck(msg.request_id, ack_offset, ack_bytes);
}

void WorkerClient::Deliver(const ipc::Message& msg) {
  if ((msg.flags & ipc::kFlagMore) != 0) return DeliverPart(msg);
  StreamCallback done;
  std::optional<Result<Reply>> result;
  std::vector<Failure> failed;
  {
    MutexLock lock(&mu_);
    auto it = pending_.find(msg.request_id);
    if (it == pending_.end()) return;  // a call already failed by OnWorkerExit
    Status st = ipc::StatusOf(msg);
    // Outputs larger than the region: once, run it again with the room they need.
    if (st.code() == StatusCode::kResourceExhausted && !it->second.resent &&
        msg.response_needed > it->second.request.response_bytes &&
        Resend(it->second, msg.response_needed)) {
      return;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    done = std::move(p.done);
    // A stream's end without a response (the model sent the final flag alone): nothing.
    const bool none = st.ok() && p.stream && (msg.flags & ipc::kFlagNoResponse) != 0;
    if (!none) result = st.ok() ? ReadReply(msg, p) : Result<Reply>(st);
    if (p.abandoned) done = nullptr;  // answered already
    Release(p);
    SubmitWaiting(&failed);
  }
  if (done) done(std::move(result), true);
  for (auto& [callback, status] : failed) callback(std::move(status), true);
}

void WorkerClient::OnWorkerExit(const std::string& why) {
  std::map<uint64_t, Pending> failed;
  std::deque<Waiting> unsent;
  {
    MutexLock lock(&mu_);
    up_ = false;
    failed.swap(pending_);
    unsent.swap(waiting_);
  }
  const Status lost(StatusCode::kUnavailable,
                    "worker " + name_ + " exited (" + why + "); the request was not completed");
  for (auto& [id, p] : failed) {
    if (!p.abandoned) p.done(lost, true);
  }
  for (Waiting& w : unsent) w.done(lost, true);
  // No consumer may touch the rings while they are reset.
  MutexLock mode(&mode_mu_);
  const bool restart_thread = thread_running_;
  StopThread();
  {
    MutexLock pump(&pump_mu_);
    MutexLock lock(&mu_);
    segment_->Reset();
    arena_.Reset();
    // The next worker must ring the doorbell for its first reply.
    if (!watches_.empty()) (void)segment_->responses().Sleep();
  }
  if (restart_thread) StartThread();
}

}  // namespace modelgrid
