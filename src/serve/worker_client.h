// WorkerClient: the server's end of one worker's shared-memory segment. Sends requests,
// matches responses to them, and fails everything in flight at once when the worker dies.
//
// Replies are consumed by the client's own response thread, or, after UseEventLoop, on the
// server's event loops: the client has one reply doorbell per loop, a request names the
// loop that sent it, and the worker rings that loop's doorbell when the client sleeps. So
// the thread that wakes for a reply is the one that writes its HTTP response.
//
// Thread-safe. Callbacks run on the consuming thread (or inside Call when it fails early,
// or inside OnWorkerExit) and must not block for long.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "ipc/arena.h"
#include "ipc/doorbell.h"
#include "ipc/shm_segment.h"
#include "serve/worker_channel.h"
#include "server/event_loop.h"

namespace modelgrid {

class WorkerClient : public WorkerChannel {
 public:
  // `doorbells`: how many reply doorbells (the server's event loops; at least 1).
  static Result<std::unique_ptr<WorkerClient>> Create(const std::string& name,
                                                      const ipc::ShmOptions& options,
                                                      size_t doorbells = 1);
  ~WorkerClient() override;

  // The descriptors to hand to the worker process: the segment, and the eventfds it rings
  // after a reply when the client sleeps.
  int segment_fd() const { return segment_->fd(); }
  std::vector<int> doorbell_fds() const;
  const std::string& name() const { return name_; }

  // Calls that wait for room at most, per worker; more fail with kUnavailable.
  static constexpr size_t kMaxWaitingCalls = 4096;

  // Sends `op` for `slot` with `inputs` and a response region of `response_bytes`.
  // `done` is called exactly once. When the arena or the request ring has no room now, the
  // call waits (with a copy of its inputs), in order, until calls in flight finish. When
  // the outputs turn out larger than the region, the worker says how much they need and
  // the request is sent once more with that much. Fails fast with kUnavailable while the
  // worker is down or kMaxWaitingCalls wait, with kResourceExhausted when the request can
  // never fit the arena.
  void Call(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
            uint64_t response_bytes, Callback done) override;
  // As Call, for a decoupled model's request: each response the worker writes (ipc::
  // kFlagMore) is read and passed to `each`, then acknowledged (ipc::Op::kStreamAck) so the
  // worker writes the next into the same region, or into a larger one when it asked for
  // that. A response larger than the arena can give ends the call (kResourceExhausted) and
  // cancels the stream in the worker.
  void CallStream(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                  uint64_t response_bytes, StreamCallback each) override;
  // The abandoned calls keep their arena region until the worker's next message for them
  // (it may be writing into it now): a part is answered with a cancelling ack, the final
  // one is dropped, and both free the region.
  void AbandonStreams(uint32_t slot, const Status& why) override;

  // The worker process exited: fails every call in flight with kUnavailable and resets the
  // segment for the next worker. Calls made until MarkUp() fail with kUnavailable.
  void OnWorkerExit(const std::string& why) override;
  // A (new) worker process is attached: calls are accepted again.
  void MarkUp() override;
  bool up() const override { return up_; }
  // How long the worker has been silent at `now_ms` (ipc::MonotonicNowMs): since its last
  // heartbeat, or since MarkUp when it has not beaten since; `*starting` says which (true:
  // not beaten since MarkUp). Thread-safe.
  uint64_t SilentMs(uint64_t now_ms, bool* starting) const override;

  // Consumes replies on `loop`'s threads from now on, or, with null, on the client's own
  // response thread again. Idempotent. Must not be called from a reply callback. A loop
  // that cannot watch (it is stopping) leaves the response thread in charge.
  void UseEventLoop(server::EventLoop* loop) override;

  // True when the worker beat within `max_age_ms` (a worker that never beat is not alive).
  bool HeartbeatAlive(uint64_t max_age_ms) const;
  uint64_t in_flight() const;
  // Calls waiting for room now.
  size_t waiting() const;

 private:
  WorkerClient(std::string name, std::unique_ptr<ipc::ShmSegment> segment,
               std::vector<ipc::Doorbell> doorbells);
  void ResponseLoop();
  void StartThread();
  void StopThread();
  // Event-loop mode, after a doorbell rang: drains the response ring, then sleeps on the
  // doorbells again. Any loop may call it; one drains at a time.
  void OnDoorbell();
  // Matches one response to its call and completes it.
  void Deliver(const ipc::Message& msg);
  // A decoupled model's response with more to follow (ipc::kFlagMore).
  void DeliverPart(const ipc::Message& msg);
  // Sends kStreamAck for call `id` with the region it may use next (bytes 0: cancelled),
  // waiting while the request ring is full, as long as the call is still pending.
  void SendAck(uint64_t id, uint64_t region_offset, uint64_t region_bytes) EXCLUDES(mu_);

  struct Pending {
    StreamCallback done;
    bool stream = false;                  // a CallStream: replies may come in parts
    bool abandoned = false;               // answered already (AbandonStreams)
    ipc::Message request;                 // as sent
    std::vector<uint64_t> input_offsets;  // to free
    bool has_region = false;              // request.response_offset is allocated
    bool resent = false;                  // sent again with a larger region already
  };
  // A call waiting for room, with its own copy of the input bytes.
  struct Waiting {
    uint8_t op = 0;
    uint32_t slot = 0;
    std::vector<CallTensor> inputs;  // data points into `bytes`
    std::vector<std::string> bytes;
    uint64_t response_bytes = 0;
    uint32_t reply_doorbell = 0;  // the event loop that made the call
    bool stream = false;
    StreamCallback done;
  };
  using Failure = std::pair<StreamCallback, Status>;
  // The reply `msg` to `p` as outputs copied out of the arena (validated against p's region).
  Result<Reply> ReadReply(const ipc::Message& msg, const Pending& p) REQUIRES(mu_);
  // Call and CallStream.
  void Start(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
             uint64_t response_bytes, bool stream, StreamCallback each);

  // Places the inputs and the response region in the arena and sends the request, whose
  // reply rings doorbell `reply_doorbell`; takes `done` only on success. On failure nothing
  // stays allocated and `*room_later` says whether calls in flight can make room. Caller
  // holds mu_.
  Status Submit(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                uint64_t response_bytes, uint32_t reply_doorbell, bool stream, StreamCallback& done,
                bool* room_later) REQUIRES(mu_);
  // Copies the inputs into the arena, reserves the response region and pushes the request;
  // what it placed is recorded in `p` (for Release) also when it fails.
  Status Place(const std::vector<CallTensor>& inputs, uint64_t response_bytes, Pending& p,
               bool* room_later) REQUIRES(mu_);
  // Submits the call, or queues it (with a copy of its inputs) behind those waiting for
  // room. Ok when `done` was taken; the error otherwise, `done` untouched.
  Status SendOrQueue(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                     uint64_t response_bytes, bool stream, StreamCallback& done) REQUIRES(mu_);
  // Sends waiting calls, in order, while they fit; those that never can go to `failed`, to
  // be called after unlocking.
  void SubmitWaiting(std::vector<Failure>* failed) REQUIRES(mu_);
  // Sends `p`'s request again with a response region of `bytes`, in place of its old
  // region (freed first: the worker has replied). False when there is no room for it now;
  // `p` then holds no region.
  bool Resend(Pending& p, uint64_t bytes) REQUIRES(mu_);
  // Frees what `p` holds in the arena.
  void Release(const Pending& p) REQUIRES(mu_);

  const std::string name_;
  std::unique_ptr<ipc::ShmSegment> segment_;
  const std::vector<ipc::Doorbell> doorbells_;
  // Lock order: mode_mu_, then (inside a watch, on a loop thread) pump_mu_, then mu_.
  Mutex mode_mu_ ACQUIRED_BEFORE(pump_mu_);  // consumer switches and resets
  // One per doorbell in event-loop mode, empty otherwise.
  std::vector<std::unique_ptr<server::FdWatch>> watches_ GUARDED_BY(mode_mu_);
  Mutex pump_mu_ ACQUIRED_BEFORE(mu_);     // held by OnDoorbell while it consumes
  std::atomic<bool> drain_wanted_{false};  // a doorbell rang while another loop drained
  mutable Mutex mu_;
  ipc::ArenaAllocator arena_ GUARDED_BY(mu_);
  std::map<uint64_t, Pending> pending_ GUARDED_BY(mu_);
  std::deque<Waiting> waiting_ GUARDED_BY(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::atomic<bool> up_{false};
  std::atomic<uint64_t> up_since_ms_{0};  // when MarkUp was last called
  std::atomic<bool> thread_running_{false};
  std::thread responses_thread_;
};

}  // namespace modelgrid
