#include "perf/model_inputs.h"

#include "server/tensor_codec.h"

#include <algorithm>

namespace modelgrid::perf {

using nlohmann::json;

namespace {

std::string ShapeText(const json& shape) { return shape.dump(); }

}  // namespace

Result<ModelSpec> ResolveModel(const std::string& model, const json& metadata, int64_t batch,
                               const ShapeOverrides& shapes) {
  ModelSpec spec;
  spec.name = model;
  if (!metadata.is_object() || !metadata.contains("inputs") || !metadata["inputs"].is_array()) {
    return InvalidArgument("model \"" + model + "\": metadata has no \"inputs\" array");
  }
  bool batched = false;
  for (const json& in : metadata["inputs"]) {
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string() ||
        !in.contains("datatype") || !in["datatype"].is_string() || !in.contains("shape") ||
        !in["shape"].is_array()) {
      return InvalidArgument("model \"" + model + "\": malformed input in metadata");
    }
    InputSpec input{in["name"].get<std::string>(), in["datatype"].get<std::string>(), {}};
    const std::string where = "model \"" + model + "\", input \"" + input.name + "\"";
    if (!server::DatatypeElementBytes(input.datatype)) {
      return Unsupported(where + ": unknown datatype " + input.datatype);
    }
    std::vector<int64_t> dims;
    for (const json& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < -1) {
        return InvalidArgument(where + ": bad shape " + ShapeText(in["shape"]));
      }
      dims.push_back(d.get<int64_t>());
    }
    const bool has_batch = !dims.empty() && dims[0] == -1;
    std::vector<int64_t> rest(dims.begin() + (has_batch ? 1 : 0), dims.end());
    // "model/input" applies to that model only; a bare "input" to every model whose input
    // of that name has a variable dimension (input names repeat across models).
    auto it = shapes.find(model + "/" + input.name);
    if (it == shapes.end()) {
      it = shapes.find(input.name);
      if (std::find(rest.begin(), rest.end(), -1) == rest.end()) it = shapes.end();
    }
    if (it != shapes.end()) {
      if (it->second.size() != rest.size()) {
        return InvalidArgument(where + ": --shape gives " + std::to_string(it->second.size()) +
                               " dims but the model has " + std::to_string(rest.size()) +
                               (has_batch ? " after the batch dimension" : "") + " (shape " +
                               ShapeText(in["shape"]) + ")");
      }
      for (size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] != -1 && rest[i] != it->second[i]) {
          return InvalidArgument(where + ": --shape conflicts with the model's shape " +
                                 ShapeText(in["shape"]));
        }
      }
      rest = it->second;
    }
    for (int64_t d : rest) {
      if (d == -1) {
        return InvalidArgument(where + " has a variable dimension (shape " +
                               ShapeText(in["shape"]) + "): give it with --shape " + input.name +
                               ":d1,d2,...");
      }
    }
    if (has_batch) {
      input.shape.push_back(batch);
      batched = true;
    }
    input.shape.insert(input.shape.end(), rest.begin(), rest.end());
    spec.inputs.push_back(std::move(input));
  }
  if (spec.inputs.empty()) return InvalidArgument("model \"" + model + "\" has no inputs");
  if (metadata.contains("outputs") && metadata["outputs"].is_array()) {
    for (const json& out : metadata["outputs"]) {
      if (out.is_object() && out.contains("name") && out["name"].is_string()) {
        spec.outputs.push_back(out["name"].get<std::string>());
      }
    }
  }
  spec.inferences_per_request = batched ? batch : 1;
  return spec;
}

Result<std::vector<std::vector<TensorData>>> BuildRequestTensors(
    const ModelSpec& model, DataMode mode, const std::vector<InputDataEntry>* entries,
    uint64_t seed) {
  std::vector<std::vector<TensorData>> variants;
  if (entries == nullptr) {
    std::mt19937_64 rng(seed);
    std::vector<TensorData> tensors;
    for (const InputSpec& in : model.inputs) {
      auto t = GenerateTensor(in.name, in.datatype, in.shape, mode, rng);
      if (!t.ok()) return t.status().WithContext("model \"" + model.name + "\"");
      tensors.push_back(std::move(t).value());
    }
    variants.push_back(std::move(tensors));
    return variants;
  }
  for (size_t i = 0; i < entries->size(); ++i) {
    std::vector<TensorData> tensors;
    for (const InputSpec& in : model.inputs) {
      const std::string where = "model \"" + model.name + "\", input data entry " +
                                std::to_string(i) + ", input \"" + in.name + "\"";
      auto it = (*entries)[i].find(in.name);
      if (it == (*entries)[i].end()) return InvalidArgument(where + ": missing");
      TensorData t{in.name, in.datatype, it->second.shape.value_or(in.shape), {}};
      auto raw = JsonToRaw(it->second.content, in.datatype, t.shape);
      if (!raw.ok()) return raw.status().WithContext(where);
      t.data = std::move(raw).value();
      tensors.push_back(std::move(t));
    }
    variants.push_back(std::move(tensors));
  }
  return variants;
}

}  // namespace modelgrid::perf
