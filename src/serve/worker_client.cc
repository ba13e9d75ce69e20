#include "serve/worker_client.h"

#include <cstring>

#include "ipc/heartbeat.h"
#include "ipc/message.h"
#include "ipc/ring.h"

namespace modelgrid {

Result<std::unique_ptr<WorkerClient>> WorkerClient::Create(const std::string& name,
                                                           const ipc::ShmOptions& options) {
  MG_ASSIGN_OR_RETURN(auto segment, ipc::ShmSegment::Create("modelgrid-" + name, options));
  std::unique_ptr<WorkerClient> client(new WorkerClient(name, std::move(segment)));
  client->StartThread();
  return client;
}

WorkerClient::WorkerClient(std::string name, std::unique_ptr<ipc::ShmSegment> segment)
    : name_(std::move(name)), segment_(std::move(segment)), arena_(segment_->arena_bytes()) {}

WorkerClient::~WorkerClient() {
  OnWorkerExit("server shutting down");
  StopThread();
}

void WorkerClient::StartThread() {
  thread_running_ = true;
  responses_thread_ = std::thread([this] { ResponseLoop(); });
}

void WorkerClient::StopThread() {
  thread_running_ = false;
  if (responses_thread_.joinable()) responses_thread_.join();
}

void WorkerClient::MarkUp() { up_ = true; }

bool WorkerClient::HeartbeatAlive(uint64_t max_age_ms) const {
  return ipc::Heartbeat(&segment_->header()).IsAlive(max_age_ms);
}

uint64_t WorkerClient::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

void WorkerClient::Call(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                        uint64_t response_bytes, Callback done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!up_) {
    lock.unlock();
    done(Status(StatusCode::kUnavailable, "worker " + name_ + " is restarting"));
    return;
  }
  Pending p;
  p.done = std::move(done);
  const uint64_t id = next_id_++;
  ipc::Message msg = ipc::MakeMessage(id, static_cast<ipc::Op>(op), slot);
  auto fail = [&](Status st) {
    for (uint64_t off : p.arena_offsets) (void)arena_.Free(off);
    lock.unlock();
    p.done(std::move(st));
  };
  for (const CallTensor& t : inputs) {
    auto offset = arena_.Allocate(t.bytes);
    if (!offset.ok()) return fail(offset.status().WithContext("worker " + name_));
    p.arena_offsets.push_back(*offset);
    std::memcpy(segment_->arena() + *offset, t.data, t.bytes);
    Status added = ipc::AddTensor(&msg, static_cast<ipc::WireDType>(t.wire_dtype), t.shape, *offset,
                                  t.bytes, t.name);
    if (!added.ok()) return fail(added);
  }
  auto region = arena_.Allocate(response_bytes);
  if (!region.ok()) return fail(region.status().WithContext("worker " + name_));
  p.arena_offsets.push_back(*region);
  msg.response_offset = p.response_offset = *region;
  msg.response_bytes = p.response_bytes = response_bytes;
  if (!segment_->requests().TryPush(msg)) {
    return fail(Status(StatusCode::kUnavailable, "worker " + name_ + " request queue is full"));
  }
  pending_.emplace(id, std::move(p));
}

void WorkerClient::ResponseLoop() {
  ipc::ResponseRing responses = segment_->responses();
  while (thread_running_) {
    ipc::Message msg;
    Status popped = responses.Pop(&msg, 50);
    if (!popped.ok()) continue;  // timeout, or a ring being reset
    Callback done;
    Result<Reply> result = Reply{};
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(msg.request_id);
      if (it == pending_.end()) continue;  // a call already failed by OnWorkerExit
      Pending p = std::move(it->second);
      pending_.erase(it);
      done = std::move(p.done);
      Status st = ipc::StatusOf(msg);
      if (st.ok()) {
        st = ipc::ValidateResponse(msg, segment_->arena_bytes(), p.response_offset,
                                   p.response_bytes);
      }
      if (st.ok()) {
        Reply reply;
        reply.text.assign(msg.text, strnlen(msg.text, sizeof msg.text));
        for (uint32_t i = 0; i < msg.num_tensors; ++i) {
          const ipc::TensorDesc& d = msg.tensors[i];
          auto bytes = ipc::TensorBytes(segment_->arena(), segment_->arena_bytes(), d);
          if (!bytes.ok()) {
            st = bytes.status();
            break;
          }
          ReplyTensor t;
          t.name = std::string(ipc::TensorName(d));
          t.wire_dtype = d.dtype;
          t.shape.assign(d.dims, d.dims + d.ndims);
          t.data.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
          reply.outputs.push_back(std::move(t));
        }
        if (st.ok()) result = std::move(reply);
      }
      if (!st.ok()) result = st;
      for (uint64_t off : p.arena_offsets) (void)arena_.Free(off);
    }
    done(std::move(result));
  }
}

void WorkerClient::OnWorkerExit(const std::string& why) {
  std::map<uint64_t, Pending> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    up_ = false;
    failed.swap(pending_);
  }
  for (auto& [id, p] : failed) {
    p.done(Status(StatusCode::kUnavailable,
                  "worker " + name_ + " exited (" + why + "); the request was not completed"));
  }
  // The response thread must not touch the rings while they are reset.
  const bool restart_thread = thread_running_;
  StopThread();
  {
    std::lock_guard<std::mutex> lock(mu_);
    segment_->Reset();
    arena_.Reset();
  }
  if (restart_thread) StartThread();
}

}  // namespace modelgrid
