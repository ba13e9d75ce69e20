// WorkerChannel: the server's end of one worker, as the serving core sees it. The real one
// is WorkerClient (shared memory to a worker process); tests put in-process fakes behind it
// (tests/support/fake_workers.h), so the core's lifecycle runs without processes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelgrid {

namespace server {
class EventLoop;
}

// An input of a call: bytes borrowed until Call returns (a channel copies what it keeps).
struct CallTensor {
  std::string name;
  uint8_t wire_dtype = 0;  // ipc::WireDType
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t bytes = 0;
};

// An output of a call, copied out of the channel.
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

// Thread-safe. Callbacks run on the channel's consuming thread (or inside Call when it
// fails early, or inside OnWorkerExit) and must not block for long.
class WorkerChannel {
 public:
  using Callback = std::function<void(Result<Reply>)>;
  virtual ~WorkerChannel() = default;

  // Sends `op` (ipc::Op) for `slot` with `inputs` and a response region of `response_bytes`.
  // `done` is called exactly once. Fails fast with kUnavailable while the worker is down.
  virtual void Call(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                    uint64_t response_bytes, Callback done) = 0;
  // A call whose model may answer several times (a decoupled model's request): `each` is
  // called for every response in order, `final` true on the last call (exactly one), which
  // may carry no response (nullopt: the model sent the final flag alone). A response may be
  // an error without being the last. The default, for channels whose workers answer once,
  // passes Call's one reply as the final one.
  using StreamCallback = std::function<void(std::optional<Result<Reply>> response, bool final)>;
  virtual void CallStream(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs,
                          uint64_t response_bytes, StreamCallback each) {
    Call(op, slot, inputs, response_bytes,
         [each = std::move(each)](Result<Reply> reply) { each(std::move(reply), true); });
  }
  // Ends every CallStream of `slot` still open with `why` as its final response (an unload
  // that cannot wait for a model that keeps its requests open). What the worker still sends
  // for them is dropped. The default: channels without streams have none.
  virtual void AbandonStreams(uint32_t slot, const Status& why) {
    (void)slot;
    (void)why;
  }
  // The worker exited: every call in flight fails with kUnavailable, and so do new ones
  // until MarkUp().
  virtual void OnWorkerExit(const std::string& why) = 0;
  // A (new) worker is attached: calls are accepted again.
  virtual void MarkUp() = 0;
  virtual bool up() const = 0;
  // How long the worker has been silent at `now_ms` (ipc::MonotonicNowMs): since its last
  // heartbeat, or since MarkUp when it has not beaten since; `*starting` says which (true:
  // not beaten since MarkUp).
  virtual uint64_t SilentMs(uint64_t now_ms, bool* starting) const = 0;
  // Consumes replies on `loop`'s threads from now on (null: on a thread of its own).
  virtual void UseEventLoop(server::EventLoop* loop) = 0;
};

}  // namespace modelgrid
