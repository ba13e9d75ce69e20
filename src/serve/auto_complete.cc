#include "serve/auto_complete.h"

#include <nlohmann/json.hpp>

#include "formats/triton_config_json.h"

namespace modelgrid {

namespace {

using nlohmann::json;

ConfigCompleter& Installed() {
  static ConfigCompleter completer;
  return completer;
}

json TensorsJson(const std::vector<TritonTensorConfig>& tensors) {
  json out = json::array();
  for (const auto& t : tensors) {
    json one = {{"name", t.name}, {"data_type", t.data_type}, {"dims", t.dims}};
    if (!t.label_filename.empty()) one["label_filename"] = t.label_filename;
    out.push_back(std::move(one));
  }
  return out;
}

}  // namespace

void SetConfigCompleter(ConfigCompleter completer) { Installed() = std::move(completer); }

Result<TritonModelConfig> AutoCompleteConfig(const std::string& model_py,
                                             const TritonModelConfig& partial) {
  if (!Installed()) {
    return Unsupported(
        "auto_complete_config needs modelgrid-worker, and this process did "
        "not install it: give the model a config.pbtxt with its inputs and "
        "outputs");
  }
  return Installed()(model_py, partial);
}

std::string PartialConfigJson(const TritonModelConfig& c) {
  json parameters = json::object();
  for (const auto& [key, value] : c.parameters) parameters[key] = {{"string_value", value}};
  json out = {{"name", c.name},
              {"backend", "python"},
              {"max_batch_size", c.max_batch_size},
              {"input", TensorsJson(c.inputs)},
              {"output", TensorsJson(c.outputs)},
              {"parameters", parameters}};
  if (c.dynamic_batching) {
    out["dynamic_batching"] = {{"preferred_batch_size", c.preferred_batch_sizes},
                               {"max_queue_delay_microseconds", c.max_queue_delay_microseconds}};
  }
  return out.dump();
}

ConfigCompleter SandboxedConfigCompleter(DryRunSandbox sandbox) {
  return [sandbox = std::move(sandbox)](
             const std::string& model_py,
             const TritonModelConfig& partial) -> Result<TritonModelConfig> {
    MG_ASSIGN_OR_RETURN(json answer, RunSandboxedJson(sandbox,
                                                      {"auto-complete", "--model-py", model_py,
                                                       "--config", PartialConfigJson(partial)},
                                                      "auto_complete_config of " + model_py));
    const json config = answer.value("config", json());
    if (!config.is_string()) return Internal("auto_complete_config: the worker sent no config");
    auto parsed = ParseTritonConfigJson(config.get<std::string>());
    if (!parsed.ok()) {
      return parsed.status().WithContext("the config auto_complete_config returned");
    }
    return parsed;
  };
}

}  // namespace modelgrid
