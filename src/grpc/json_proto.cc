#include "grpc/json_proto.h"

#include <google/protobuf/util/json_util.h>

#include <cstdint>

namespace modelgrid::rpc {

namespace {

using nlohmann::json;

// Reads a string member, "" when absent; kInternal when it is not a string.
Result<std::string> String(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::string();
  if (!it->is_string()) return Internal(std::string("\"") + key + "\" is not a string");
  return it->get<std::string>();
}

Status TensorsFromJson(
    const json& list,
    google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  if (!list.is_array()) return Internal("model metadata tensors are not an array");
  for (const json& t : list) {
    auto* m = out->Add();
    MG_ASSIGN_OR_RETURN(*m->mutable_name(), String(t, "name"));
    MG_ASSIGN_OR_RETURN(*m->mutable_datatype(), String(t, "datatype"));
    for (const json& d : t.value("shape", json::array())) {
      if (!d.is_number_integer()) return Internal("a tensor dimension is not an integer");
      m->add_shape(d.get<int64_t>());
    }
  }
  return Status::Ok();
}

Status FromJsonMapping(const json& j, google::protobuf::Message* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(j.dump(), out, options);
  if (!status.ok()) {
    return Internal("cannot express the answer as " + out->GetTypeName() + ": " +
                    std::string(status.message()));
  }
  return Status::Ok();
}

}  // namespace

Status ServerMetadataFromJson(const json& j, inference::ServerMetadataResponse* out) {
  MG_ASSIGN_OR_RETURN(*out->mutable_name(), String(j, "name"));
  MG_ASSIGN_OR_RETURN(*out->mutable_version(), String(j, "version"));
  for (const json& e : j.value("extensions", json::array())) {
    if (e.is_string()) out->add_extensions(e.get<std::string>());
  }
  return Status::Ok();
}

Status ModelMetadataFromJson(const json& j, inference::ModelMetadataResponse* out) {
  MG_ASSIGN_OR_RETURN(*out->mutable_name(), String(j, "name"));
  MG_ASSIGN_OR_RETURN(*out->mutable_platform(), String(j, "platform"));
  for (const json& v : j.value("versions", json::array())) {
    if (v.is_string()) out->add_versions(v.get<std::string>());
  }
  MG_RETURN_IF_ERROR(TensorsFromJson(j.value("inputs", json::array()), out->mutable_inputs()));
  return TensorsFromJson(j.value("outputs", json::array()), out->mutable_outputs());
}

Status RepositoryIndexFromJson(const json& j, inference::RepositoryIndexResponse* out) {
  if (!j.is_array()) return Internal("the repository index is not an array");
  for (const json& m : j) {
    auto* entry = out->add_models();
    MG_ASSIGN_OR_RETURN(*entry->mutable_name(), String(m, "name"));
    MG_ASSIGN_OR_RETURN(*entry->mutable_version(), String(m, "version"));
    MG_ASSIGN_OR_RETURN(*entry->mutable_state(), String(m, "state"));
    MG_ASSIGN_OR_RETURN(*entry->mutable_reason(), String(m, "reason"));
  }
  return Status::Ok();
}

Status ModelConfigFromJson(const json& j, inference::ModelConfig* out) {
  return FromJsonMapping(j, out);
}

Status ModelStatisticsFromJson(const json& j, inference::ModelStatisticsResponse* out) {
  return FromJsonMapping(j, out);
}

Status LogSettingsFromJson(const json& j, inference::LogSettingsResponse* out) {
  auto& settings = *out->mutable_settings();
  for (const auto& [key, value] : j.items()) {
    auto& v = settings[key];
    if (value.is_boolean()) {
      v.set_bool_param(value.get<bool>());
    } else if (value.is_number_integer() && value.get<int64_t>() >= 0 &&
               value.get<int64_t>() <= int64_t{UINT32_MAX}) {
      v.set_uint32_param(static_cast<uint32_t>(value.get<int64_t>()));
    } else if (value.is_string()) {
      v.set_string_param(value.get<std::string>());
    } else {
      return Internal("log setting \"" + key + "\" has no gRPC form");
    }
  }
  return Status::Ok();
}

}  // namespace modelgrid::rpc
