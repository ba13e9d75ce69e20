// Feeds arbitrary bytes to the gRPC request decoding path: bytes -> ModelInferRequest
// (protobuf's parser) -> the core's InferRequest (RequestFromProto), then encodes a
// response that echoes the inputs (ResponseToProto). Any crash or sanitizer report is a bug,
// and so is a decoded request whose tensors do not match their shapes and datatypes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>

#include <google/protobuf/stubs/logging.h>

#include "grpc/infer_proto.h"
#include "server/tensor_codec.h"

// protobuf logs every string field with invalid UTF-8 it refuses; the refusal is the point.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto request = modelgrid::rpc::RequestFromProto(proto);
  if (!request.ok()) return 0;
  std::set<std::string> names;
  modelgrid::server::InferResponse echo;
  for (const auto& t : request->inputs) {
    if (!names.insert(t.name).second) std::abort();
    if (request->input_regions.count(t.name)) continue;  // its bytes come later
    if (!modelgrid::server::ValidateTensorData(t).ok()) std::abort();
    echo.outputs.push_back(t);
  }
  modelgrid::server::InferRequest info;
  info.output_regions = request->output_regions;
  inference::ModelInferResponse out;
  if (modelgrid::rpc::ResponseToProto(std::move(echo), info, &out).ok() &&
      out.raw_output_contents_size() != out.outputs_size()) {
    std::abort();
  }
  return 0;
}
