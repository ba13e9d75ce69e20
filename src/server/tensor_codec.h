// KServe v2 tensors on the wire: JSON and the binary tensor data extension <-> Tensor.
//
// Everything here is a pure function of its inputs (no I/O, no Beast), thread-safe, and
// never throws: malformed input yields kInvalidArgument (HTTP 400).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/inference_service.h"

namespace modelgrid::server {

// Bytes per element of a KServe datatype: 1 for BOOL, 2 for FP16, ... 0 for BYTES (variable
// size). nullopt for an unknown datatype.
std::optional<size_t> DatatypeElementBytes(std::string_view datatype);

// The product of the dimensions; kInvalidArgument for a negative dimension or an element
// count above 2^48 (no real tensor is that large; it guards the arithmetic).
Result<int64_t> ElementCount(const std::vector<int64_t>& shape);

// Checks that `tensor.data` holds exactly the elements its shape and datatype call for
// (for BYTES: a well-formed sequence of length-prefixed elements of the right count).
Status ValidateTensorData(const Tensor& tensor);

// Builds a tensor's data from JSON "data": a flat or nested array whose element count must
// equal the product of `shape`, with values in range for the datatype. FP16 and BF16 come
// from JSON numbers; BOOL from JSON booleans; BYTES from JSON strings.
Result<std::string> EncodeJsonData(const nlohmann::json& data, std::string_view datatype,
                                   const std::vector<int64_t>& shape);

// A request-level parameter a client may send: not one of kReservedRequestParameters (Triton
// core's, refused by name), and a string, number or boolean.
Status CheckRequestParameter(const std::string& key, const nlohmann::json& value);

// The flat JSON array of a tensor's elements (BYTES elements become strings).
Result<nlohmann::json> DecodeJsonData(const Tensor& tensor);

// The same array as JSON text, appended to `*out`, written straight from the bytes for
// numeric and BOOL tensors (what responses use: no JSON value per element). Numbers are
// the shortest text that reads back to the same value of the tensor's own type (FP16 and
// BF16 as their float value); NaN and infinities, which JSON lacks, are Triton's tokens
// NaN, Infinity and -Infinity (what Triton's clients and Python's json module read).
Status AppendJsonData(const Tensor& tensor, std::string* out);

// Parses an infer request body. `header_length` is the value of the
// Inference-Header-Content-Length header when present: the first `header_length` bytes are
// the JSON and the rest are the binary inputs, taken in input order by those inputs that
// carry "parameters": {"binary_data_size": K}. Without it the whole body is JSON. The
// model and version are left empty (they come from the URL).
Result<InferRequest> DecodeInferRequest(std::string_view body, std::optional<size_t> header_length);

// Whether output `name` goes out as binary under the request's binary_outputs map.
bool WantsBinaryOutput(const std::map<std::string, bool>& binary_outputs, const std::string& name);

struct EncodedInferResponse {
  std::string body;  // JSON, followed by binary outputs when header_length is set
  std::optional<size_t> header_length;  // Inference-Header-Content-Length when binary
};

// Encodes a response. Emits only `requested_outputs` (in that order) when not empty,
// failing with kInternal if the service left one out. Outputs the request wants as binary
// are appended raw after the JSON with "parameters": {"binary_data_size": K}.
Result<EncodedInferResponse> EncodeInferResponse(const InferResponse& response,
                                                 const InferRequest& request_info);

// Serialises JSON for the wire; invalid UTF-8 in strings is replaced, never thrown.
std::string DumpJson(const nlohmann::json& value);

}  // namespace modelgrid::server
