// The wire of BLS calls from a worker to the server: a Python model's
// pb_utils.InferenceRequest(...).exec() into a model that runs in another worker. Each
// worker start gets a Unix stream socket (serve/bls_server.h on the server's end); the
// worker sends a request frame and waits for its reply frame, one call at a time.
//
// A frame: a little-endian u32 header length, a little-endian u64 payload length, the
// header (JSON), then the payload: the tensors' bytes back to back, in the header's order.
//   request header: {"model": str, "version": int (<= 0: any), "inputs": [TENSOR...],
//                    "id": str (optional), "parameters": {...} (optional: custom request
//                    parameters, string, number or boolean values, none of Triton's
//                    reserved names)}
//   reply header:   {"outputs": [TENSOR...]} or {"error": str, "code": StatusCodeName}
//   TENSOR:         {"name": str, "datatype": KServe name, "shape": [int...], "bytes": int}
// What the other process sends is untrusted: decoding checks every field, every tensor's
// bytes against its shape and datatype, and the lengths against the limits (fuzzed:
// fuzz/bls_wire_fuzz.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/inference_service.h"

namespace modelgrid {

inline constexpr uint64_t kMaxBlsHeaderBytes = uint64_t{1} << 20;
inline constexpr uint64_t kMaxBlsPayloadBytes = uint64_t{1} << 30;
inline constexpr size_t kMaxBlsTensors = 256;

struct BlsRequest {
  std::string model;
  int64_t version = -1;
  std::vector<server::Tensor> inputs;
  std::string id;
  nlohmann::json parameters = nlohmann::json::object();
};

// A reply: `status` not OK, or the outputs.
struct BlsReply {
  Status status;
  std::vector<server::Tensor> outputs;
};

// Whole frames, ready to write.
std::string EncodeBlsRequest(const BlsRequest& request);
std::string EncodeBlsReply(const BlsReply& reply);

// From a frame's header and payload (ReadBlsFrame). kInvalidArgument naming what is wrong.
Result<BlsRequest> DecodeBlsRequest(std::string_view header, std::string_view payload);
Result<BlsReply> DecodeBlsReply(std::string_view header, std::string_view payload);

// Reads one frame from `fd` (blocking; `timeout_ms` < 0: no deadline). kUnavailable when the
// peer closed the socket or the deadline passed, kInvalidArgument for lengths over the
// limits (the stream is then unusable).
Status ReadBlsFrame(int fd, int timeout_ms, std::string* header, std::string* payload);
// Writes all of `frame`; kUnavailable when the peer is gone.
Status WriteBlsFrame(int fd, std::string_view frame);

}  // namespace modelgrid
