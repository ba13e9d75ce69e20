// ModelStreamInfer: Triton's bidirectional inference stream.
//
// Every request read is run at once (requests on one stream overlap, as on many unary
// calls); the responses are written in the order of the requests, each with its request's
// id. A request that fails gets a response with `error_message` set (and its id and model
// in `infer_response`), and the stream goes on. A decoupled model's request may have any
// number of responses (InferenceService::InferStream), written in order and all before
// those of the requests after it on the stream (open a stream per generation to have
// several interleave). With the request parameter `triton_enable_empty_final_response`
// true, as in Triton, every response carries the parameter `triton_final_response`, and a
// model that ends without a last response gets an empty one with it true; without it, such
// an end sends nothing. At most kMaxStreamBacklog requests are
// held (running, or answered and waiting for those before them to be written): past that
// the stream reads no more until responses are written, so a client that sends without
// reading holds a bounded amount of server memory. The stream ends OK when the client closes
// its side and every response is written; when the server drains (StreamRegistry::
// DrainAll), it answers what it has read and then ends with UNAVAILABLE.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "grpc/bidi_call.h"
#include "grpc_service.pb.h"
#include "server/inference_service.h"
#include "server/shared_memory.h"

namespace modelgrid::rpc {

inline constexpr size_t kMaxStreamBacklog = 256;

class StreamInferReactor;

// The open streams, so that a shutdown can drain them. Thread-safe. It holds a reference to
// each open stream: a stream is deleted when gRPC is done with it and no drain holds it.
class StreamRegistry {
 public:
  void Add(std::shared_ptr<StreamInferReactor> stream) EXCLUDES(mu_);
  void Remove(StreamInferReactor* stream) EXCLUDES(mu_);
  // From now on every stream, open or opened later, drains: it reads no more requests,
  // answers those it has, and ends with UNAVAILABLE.
  void DrainAll() EXCLUDES(mu_);
  bool draining() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<StreamInferReactor*, std::shared_ptr<StreamInferReactor>> streams_ GUARDED_BY(mu_);
  bool draining_ GUARDED_BY(mu_) = false;
};

// The stream calls of ModelStreamInfer.
using StreamCall = BidiCall<inference::ModelInferRequest, inference::ModelStreamInferResponse>;

// One stream. gRPC is done with it (OnDone) never before every request it passed to the
// InferenceService has been answered; the registry then lets it go.
class StreamInferReactor final
    : public BidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  // Starts serving the stream `call`: the method's start function.
  static void Start(StreamCall& call, server::InferenceService& service,
                    const server::SystemSharedMemory& shm, StreamRegistry& registry);
  StreamInferReactor(StreamCall& call, server::InferenceService& service,
                     const server::SystemSharedMemory& shm, StreamRegistry& registry)
      : BidiReactor(call), service_(service), shm_(shm), registry_(registry) {}

  // Stops reading and ends the stream once the requests read so far are answered.
  void Drain() EXCLUDES(mu_);

  void OnReadDone(bool ok) override EXCLUDES(mu_);
  void OnWriteDone(bool ok) override EXCLUDES(mu_);
  void OnCancel() override EXCLUDES(mu_);
  void OnDone() override;

 private:
  // A request read, in order, and its response once ready.
  struct Slot {
    inference::ModelStreamInferResponse response;
    bool ready = false;
  };

  // A request being served: where its latest response goes, and how its end is told.
  struct Asked {
    Slot* last = nullptr;      // its latest slot in slots_
    bool empty_final = false;  // triton_enable_empty_final_response
    std::string model, version, id;
  };

  // One of the responses of `asked` (any thread), `final` on its last.
  void Responded(Asked& asked, std::optional<Result<inference::ModelInferResponse>> response,
                 bool final) EXCLUDES(mu_);
  // Starts the next write, or finishes the stream, as the state allows. Call without mu_:
  // it starts gRPC operations.
  void Advance() EXCLUDES(mu_);

  server::InferenceService& service_;
  const server::SystemSharedMemory& shm_;
  StreamRegistry& registry_;
  inference::ModelInferRequest incoming_;  // the read buffer (one read at a time)
  Mutex mu_;
  std::deque<std::unique_ptr<Slot>> slots_ GUARDED_BY(mu_);  // in request order
  int in_service_ GUARDED_BY(mu_) = 0;  // requests the service has not answered yet
  // OnReadDone calls between a read's completion and the next StartRead: the stream does
  // not finish meanwhile (no StartRead may follow Finish).
  int in_read_ GUARDED_BY(mu_) = 0;
  bool writing_ GUARDED_BY(mu_) = false;
  bool read_paused_ GUARDED_BY(mu_) = false;  // kMaxStreamBacklog reached: no read pending
  bool reads_done_ GUARDED_BY(mu_) = false;   // the client closed its side, or the call ended
  bool draining_ GUARDED_BY(mu_) = false;
  bool broken_ GUARDED_BY(mu_) = false;  // cancelled or a write failed: nothing more to send
  bool finished_ GUARDED_BY(mu_) = false;
};

}  // namespace modelgrid::rpc
