// ResponseStreams: a worker's decoupled requests in flight (Triton's decoupled transaction
// policy), and the one way their responses reach the server.
//
// Each request's responses travel one at a time through the response region the server
// gave it: the worker writes one, replies with ipc::kFlagMore, and writes the next only
// after the server's ipc::Op::kStreamAck says it has read it. So a response never
// overwrites one the server has not read, and a model that sends faster than its client
// reads waits in this worker's memory, not in the arena: up to kMaxQueuedResponses
// responses per request, then its send blocks until there is room. A response larger than
// the region asks for a larger one in the ack. The final response carries no kFlagMore (and
// ipc::kFlagNoResponse when the model sent the final flag alone).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "common/mutex.h"
#include "common/status.h"
#include "ipc/shm_layout.h"
#include "ipc/shm_segment.h"

namespace modelgrid {

// Writes `outputs` into `request`'s response region and describes them in `reply`;
// kResourceExhausted with reply->response_needed set when the region is too small,
// kOutOfRange when there are more outputs than a message holds.
Status WriteOutputs(ipc::ShmSegment& segment, const std::vector<HostTensor>& outputs,
                    const ipc::Message& request, ipc::Message* reply);

inline constexpr size_t kMaxQueuedResponses = 64;

class ResponseStreams {
 public:
  using Answer = std::function<void(const ipc::Message&)>;  // pushes one reply
  // Borrows `segment` until Close().
  ResponseStreams(ipc::ShmSegment& segment, Answer answer);

  // Opens the stream of `request` (a validated kInfer) and returns where its model sends.
  std::shared_ptr<ResponseSink> Open(const ipc::Message& request);
  // The server's kStreamAck for a stream (unknown ones are ignored: already ended).
  void OnAck(const ipc::Message& ack);
  // Ends every stream (the worker is stopping): what models send from now on is refused.
  void Close();
  size_t open() const;

 private:
  struct Stream;
  class Sink;
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace modelgrid
