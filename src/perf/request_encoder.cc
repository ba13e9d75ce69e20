#include "perf/request_encoder.h"

#include <nlohmann/json.hpp>

#include "server/tensor_codec.h"

namespace modelgrid::perf {

using nlohmann::json;

Result<EncodedRequest> EncodeInferRequest(const std::vector<TensorData>& inputs,
                                          const std::vector<std::string>& outputs, bool binary) {
  json header = {{"inputs", json::array()}};
  for (const TensorData& t : inputs) {
    json in = {{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}};
    if (binary) {
      in["parameters"] = {{"binary_data_size", t.data.size()}};
    } else {
      MG_ASSIGN_OR_RETURN(in["data"], server::DecodeJsonData(t));
    }
    header["inputs"].push_back(std::move(in));
  }
  EncodedRequest r;
  if (!binary) {
    r.body = header.dump();
    r.headers = {{"Content-Type", "application/json"}};
    return r;
  }
  if (outputs.empty()) {
    header["parameters"] = {{"binary_data_output", true}};
  } else {
    header["outputs"] = json::array();
    for (const std::string& name : outputs) {
      header["outputs"].push_back({{"name", name}, {"parameters", {{"binary_data", true}}}});
    }
  }
  r.body = header.dump();
  const size_t header_length = r.body.size();
  for (const TensorData& t : inputs) r.body += t.data;
  r.headers = {{"Content-Type", "application/octet-stream"},
               {"Inference-Header-Content-Length", std::to_string(header_length)}};
  return r;
}

}  // namespace modelgrid::perf
