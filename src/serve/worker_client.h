// WorkerClient: the server's end of one worker's shared-memory segment. Sends requests,
// matches responses to them, and fails everything in flight at once when the worker dies.
//
// Thread-safe. Callbacks run on the client's response thread (or inside Call when it fails
// early, or inside OnWorkerExit) and must not block for long.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "ipc/arena.h"
#include "ipc/shm_segment.h"

namespace modelgrid {

// An input of a call: bytes borrowed until Call returns (they are copied into the arena).
struct CallTensor {
  std::string name;
  uint8_t wire_dtype = 0;  // ipc::WireDType
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t bytes = 0;
};

// An output of a call, copied out of the arena.
struct ReplyTensor {
  std::string name;
  uint8_t wire_dtype = 0;
  std::vector<int64_t> shape;
  std::string data;
};

struct Reply {
  std::string text;  // the response's text (load: the warm-up's JSON)
  std::vector<ReplyTensor> outputs;
};

class WorkerClient {
 public:
  using Callback = std::function<void(Result<Reply>)>;

  static Result<std::unique_ptr<WorkerClient>> Create(const std::string& name,
                                                      const ipc::ShmOptions& options);
  ~WorkerClient();

  // The segment descriptor to hand to the worker process.
  int segment_fd() const { return segment_->fd(); }
  const std::string& name() const { return name_; }

  // Sends `op` for `slot` with `inputs` and a response region of `response_bytes`.
  // `done` is called exactly once. Fails fast (kUnavailable) while the worker is down,
  // kResourceExhausted when the arena cannot hold the request now.
  void Call(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
            uint64_t response_bytes, Callback done);

  // The worker process exited: fails every call in flight with kUnavailable and resets the
  // segment for the next worker. Calls made until MarkUp() fail with kUnavailable.
  void OnWorkerExit(const std::string& why);
  // A (new) worker process is attached: calls are accepted again.
  void MarkUp();
  bool up() const { return up_; }

  // True when the worker beat within `max_age_ms` (a worker that never beat is not alive).
  bool HeartbeatAlive(uint64_t max_age_ms) const;
  uint64_t in_flight() const;

 private:
  WorkerClient(std::string name, std::unique_ptr<ipc::ShmSegment> segment);
  void ResponseLoop();
  void StartThread();
  void StopThread();

  struct Pending {
    Callback done;
    std::vector<uint64_t> arena_offsets;  // inputs and the response region, to free
    uint64_t response_offset = 0;
    uint64_t response_bytes = 0;
  };

  const std::string name_;
  std::unique_ptr<ipc::ShmSegment> segment_;
  mutable std::mutex mu_;
  ipc::ArenaAllocator arena_;            // GUARDED_BY(mu_)
  std::map<uint64_t, Pending> pending_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                 // GUARDED_BY(mu_)
  std::atomic<bool> up_{false};
  std::atomic<bool> thread_running_{false};
  std::thread responses_thread_;
};

}  // namespace modelgrid
