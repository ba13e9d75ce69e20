// Encodes one KServe v2 infer request body, once, before the load starts.
#pragma once

#include <string>
#include <vector>

#include "client/http_client.h"
#include "common/status.h"
#include "perf/tensor_data.h"

namespace modelgrid::perf {

struct EncodedRequest {
  std::string body;
  client::HttpClient::Headers headers;  // Content-Type, Inference-Header-Content-Length
};

// JSON: inputs carry their values in "data". Binary (KServe binary tensor extension): a
// JSON header whose inputs carry "parameters": {"binary_data_size": N}, followed by the
// raw bytes in input order, with Inference-Header-Content-Length set to the header's
// length; `outputs` (or, when empty, every output) are asked for as binary. Pure.
Result<EncodedRequest> EncodeInferRequest(const std::vector<TensorData>& inputs,
                                          const std::vector<std::string>& outputs, bool binary);

}  // namespace modelgrid::perf
