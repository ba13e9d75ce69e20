#include "serve/worker_protocol.h"

#include <nlohmann/json.hpp>

namespace modelgrid {

namespace {

struct DTypeRow {
  TensorDType dtype;
  ipc::WireDType wire;
};

constexpr DTypeRow kRows[] = {
    {TensorDType::kBool, ipc::WireDType::kBool},  {TensorDType::kUInt8, ipc::WireDType::kU8},
    {TensorDType::kInt8, ipc::WireDType::kI8},    {TensorDType::kInt16, ipc::WireDType::kI16},
    {TensorDType::kInt32, ipc::WireDType::kI32},  {TensorDType::kInt64, ipc::WireDType::kI64},
    {TensorDType::kFp16, ipc::WireDType::kF16},   {TensorDType::kBf16, ipc::WireDType::kBF16},
    {TensorDType::kFp32, ipc::WireDType::kF32},   {TensorDType::kFp64, ipc::WireDType::kF64},
    {TensorDType::kUInt16, ipc::WireDType::kU16}, {TensorDType::kUInt32, ipc::WireDType::kU32},
    {TensorDType::kUInt64, ipc::WireDType::kU64}, {TensorDType::kBytes, ipc::WireDType::kBytes},
};

nlohmann::json SpecsToJson(const std::vector<IoSpec>& specs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : specs) {
    out.push_back(
        {{"name", s.name}, {"dtype", std::string(TensorDTypeName(s.dtype))}, {"dims", s.dims}});
  }
  return out;
}

Result<std::vector<IoSpec>> SpecsFromJson(const nlohmann::json& j) {
  std::vector<IoSpec> specs;
  if (!j.is_array() || j.size() > 64) return InvalidArgument("io specs must be an array");
  for (const auto& e : j) {
    if (!e.is_object() || !e.value("name", nlohmann::json()).is_string() ||
        !e.value("dtype", nlohmann::json()).is_string() ||
        !e.value("dims", nlohmann::json()).is_array()) {
      return InvalidArgument("io spec needs name, dtype and dims");
    }
    IoSpec s;
    s.name = e["name"].get<std::string>();
    MG_ASSIGN_OR_RETURN(s.dtype, ParseTensorDType(e["dtype"].get<std::string>()));
    for (const auto& d : e["dims"]) {
      if (!d.is_number_integer()) return InvalidArgument("io spec dims must be integers");
      s.dims.push_back(d.get<int64_t>());
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

}  // namespace

ipc::WireDType WireFromTensorDType(TensorDType dtype) {
  for (const auto& r : kRows) {
    if (r.dtype == dtype) return r.wire;
  }
  return ipc::WireDType::kF32;
}

Result<TensorDType> TensorDTypeFromWire(uint8_t wire) {
  for (const auto& r : kRows) {
    if (static_cast<uint8_t>(r.wire) == wire) return r.dtype;
  }
  return CorruptData("wire dtype " + std::to_string(wire) + " has no tensor dtype");
}

Result<ModelInstanceConfig> InstanceConfigFromTriton(const TritonModelConfig& config,
                                                     const std::string& model_path,
                                                     const std::string& device,
                                                     uint64_t memory_limit_bytes) {
  ModelInstanceConfig c;
  c.backend = config.backend == "python" ? "python" : "pytorch";
  c.path = model_path;
  c.device = device;
  c.max_batch_size = config.max_batch_size;
  c.memory_limit_bytes = memory_limit_bytes;
  c.decoupled = config.decoupled;
  auto convert = [](const std::vector<TritonTensorConfig>& in, std::vector<IoSpec>* out) -> Status {
    for (const auto& t : in) {
      IoSpec s;
      s.name = t.name;
      auto dtype = ParseTensorDType(t.data_type);
      if (!dtype.ok()) return dtype.status().WithContext("tensor " + t.name);
      s.dtype = *dtype;
      s.dims = t.dims;
      out->push_back(std::move(s));
    }
    return Status::Ok();
  };
  MG_RETURN_IF_ERROR(convert(config.inputs, &c.inputs));
  MG_RETURN_IF_ERROR(convert(config.outputs, &c.outputs));
  return c;
}

std::string LoadConfigToJson(const ModelInstanceConfig& c, int instances) {
  nlohmann::json j = {{"backend", c.backend},
                      {"path", c.path},
                      {"model_name", c.model_name},
                      {"model_version", c.model_version},
                      {"model_config", c.model_config_json},
                      {"instances", instances},
                      {"device", c.device},
                      {"max_batch_size", c.max_batch_size},
                      {"decoupled", c.decoupled},
                      {"memory_limit_bytes", c.memory_limit_bytes},
                      {"inputs", SpecsToJson(c.inputs)},
                      {"outputs", SpecsToJson(c.outputs)}};
  return j.dump();
}

Result<ModelInstanceConfig> LoadConfigFromJson(std::string_view text, int* instances) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.value("path", nlohmann::json()).is_string() ||
      !j.value("device", nlohmann::json()).is_string() ||
      !j.value("max_batch_size", nlohmann::json()).is_number_integer() ||
      !j.value("memory_limit_bytes", nlohmann::json()).is_number_unsigned()) {
    return InvalidArgument("malformed load config");
  }
  const nlohmann::json copies = j.value("instances", nlohmann::json(1));
  if (!copies.is_number_integer() || copies.get<int64_t>() < 1 ||
      copies.get<int64_t>() > kMaxSlotInstances) {
    return InvalidArgument("load config: instances must be 1 to " +
                           std::to_string(kMaxSlotInstances));
  }
  if (instances != nullptr) *instances = copies.get<int>();
  ModelInstanceConfig c;
  const nlohmann::json backend = j.value("backend", nlohmann::json("pytorch"));
  const nlohmann::json name = j.value("model_name", nlohmann::json(""));
  const nlohmann::json version = j.value("model_version", nlohmann::json(0));
  const nlohmann::json model_config = j.value("model_config", nlohmann::json(""));
  const nlohmann::json decoupled = j.value("decoupled", nlohmann::json(false));
  if (!backend.is_string() || !name.is_string() || !version.is_number_integer() ||
      !model_config.is_string() || !decoupled.is_boolean()) {
    return InvalidArgument(
        "malformed load config: backend, model_name, model_version, "
        "model_config, decoupled");
  }
  c.decoupled = decoupled.get<bool>();
  c.backend = backend.get<std::string>();
  c.model_name = name.get<std::string>();
  c.model_version = version.get<int64_t>();
  c.model_config_json = model_config.get<std::string>();
  c.path = j["path"].get<std::string>();
  c.device = j["device"].get<std::string>();
  c.max_batch_size = j["max_batch_size"].get<int64_t>();
  c.memory_limit_bytes = j["memory_limit_bytes"].get<uint64_t>();
  MG_ASSIGN_OR_RETURN(c.inputs, SpecsFromJson(j.value("inputs", nlohmann::json::array())));
  MG_ASSIGN_OR_RETURN(c.outputs, SpecsFromJson(j.value("outputs", nlohmann::json::array())));
  return c;
}

}  // namespace modelgrid
