#include "serve/model_config_json.h"

namespace modelgrid {

using nlohmann::json;

json TritonConfigJson(const Model& m, const std::vector<Device>& devices) {
  const TritonModelConfig& c = m.served.config;
  json inputs = json::array(), outputs = json::array();
  for (const auto& t : c.inputs) {
    inputs.push_back({{"name", t.name},
                      {"data_type", t.data_type},
                      {"format", "FORMAT_NONE"},
                      {"dims", t.dims},
                      {"is_shape_tensor", false},
                      {"allow_ragged_batch", false},
                      {"optional", false}});
  }
  for (const auto& t : c.outputs) {
    outputs.push_back({{"name", t.name},
                       {"data_type", t.data_type},
                       {"dims", t.dims},
                       {"label_filename", t.label_filename},
                       {"is_shape_tensor", false}});
  }
  bool gpu = false;
  json gpus = json::array();
  for (const Device& d : devices) {
    if (d.host) continue;
    gpu = true;
    gpus.push_back(d.index);
  }
  json group = {{"name", m.served.name},
                {"kind", gpu ? "KIND_GPU" : "KIND_CPU"},
                {"count", m.instances_per_device},
                {"gpus", gpus},
                {"secondary_devices", json::array()},
                {"profile", json::array()},
                {"passive", false},
                {"host_policy", ""}};
  json parameters = json::object();
  for (const auto& [key, value] : c.parameters) parameters[key] = {{"string_value", value}};
  const bool python = m.instance.backend == "python";
  json out = {{"name", m.served.name},
              {"platform", python ? "" : "pytorch_libtorch"},
              {"backend", python ? "python" : "pytorch"},
              {"version_policy", {{"latest", {{"num_versions", 1}}}}},
              {"max_batch_size", c.max_batch_size},
              {"input", inputs},
              {"output", outputs},
              {"batch_input", json::array()},
              {"batch_output", json::array()},
              {"instance_group", json::array({group})},
              {"default_model_filename", python ? "model.py" : "model.pt"},
              {"parameters", parameters},
              {"model_transaction_policy", {{"decoupled", c.decoupled}}},
              {"model_warmup", json::array()}};
  if (c.dynamic_batching) {
    out["dynamic_batching"] = {{"preferred_batch_size", c.preferred_batch_sizes},
                               {"max_queue_delay_microseconds", c.max_queue_delay_microseconds},
                               {"preserve_ordering", false}};
  }
  return out;
}

}  // namespace modelgrid
