#include "formats/triton_config_json.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace modelgrid {

namespace {

using nlohmann::json;

// The JSON document is at most this deep: a model config nests four levels.
constexpr int kMaxDepth = 16;

// Fields of a config whose values ModelGrid serves with.
const std::set<std::string> kServed = {
    "name",   "platform",       "backend",          "max_batch_size", "input",
    "output", "instance_group", "dynamic_batching", "parameters",     "model_transaction_policy"};

bool IsEnumName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A field Triton fills in, sent back unchanged: accepted when it holds Triton's default.
bool IsTritonDefault(const std::string& key, const json& v) {
  if (key == "version_policy") return v == json{{"latest", {{"num_versions", 1}}}};
  if (key == "default_model_filename") return v == "model.pt" || v == "model.py" || v == "";
  if (key == "batch_input" || key == "batch_output" || key == "model_warmup") {
    return v.is_array() && v.empty();
  }
  return false;
}

// The fields of `section`'s messages that ModelGrid serves with, and those Triton fills in
// whose default values are accepted (and dropped).
struct SubFields {
  std::set<std::string> served;
  std::map<std::string, json> defaults;
};
const std::map<std::string, SubFields>& Sections() {
  static const auto* sections = new std::map<std::string, SubFields>{
      {"input",
       {{"name", "data_type", "dims"},
        {{"format", "FORMAT_NONE"},
         {"is_shape_tensor", false},
         {"allow_ragged_batch", false},
         {"optional", false}}}},
      {"output", {{"name", "data_type", "dims", "label_filename"}, {{"is_shape_tensor", false}}}},
      {"instance_group",
       {{"count", "kind", "gpus"},
        {{"secondary_devices", json::array()},
         {"profile", json::array()},
         {"passive", false},
         {"host_policy", ""}}}},
      {"dynamic_batching",
       {{"preferred_batch_size", "max_queue_delay_microseconds"}, {{"preserve_ordering", false}}}},
      {"model_transaction_policy", {{"decoupled"}, {}}},
  };
  return *sections;
}

// `message` of `section` without its default-valued Triton fields; kInvalidArgument naming
// a field ModelGrid does not serve with.
Result<json> Served(const std::string& section, const json& message) {
  auto it = Sections().find(section);
  if (it == Sections().end() || !message.is_object()) return message;
  json out = json::object();
  for (const auto& [key, value] : message.items()) {
    if (it->second.served.count(key)) {
      out[key] = value;
      continue;
    }
    if (section == "instance_group" && key == "name") continue;  // a label only
    auto d = it->second.defaults.find(key);
    if (d != it->second.defaults.end() && d->second == value) continue;
    return InvalidArgument("config field \"" + section + "." + key + "\"" +
                           (d == it->second.defaults.end() ? "" : " = " + value.dump()) +
                           " is not supported by ModelGrid");
  }
  return out;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out + "\"";
}

Status Emit(const std::string& key, const json& v, int depth, std::string* out);

// A scalar as protobuf text: enum names (data_type, kind, format) bare, strings quoted.
Status EmitScalar(const std::string& key, const json& v, std::string* out) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    const bool enum_field = key == "data_type" || key == "kind" || key == "format";
    *out += enum_field && IsEnumName(s) ? s : Quote(s);
  } else if (v.is_boolean()) {
    *out += v.get<bool>() ? "true" : "false";
  } else if (v.is_number_integer()) {
    *out += v.dump();
  } else {
    return InvalidArgument("config field \"" + key + "\" has a value ModelGrid does not read (" +
                           std::string(v.type_name()) + ")");
  }
  return Status::Ok();
}

Status EmitMessage(const json& object, int depth, std::string* out) {
  if (depth > kMaxDepth) return InvalidArgument("the config nests too deeply");
  *out += "{ ";
  for (const auto& [key, value] : object.items())
    MG_RETURN_IF_ERROR(Emit(key, value, depth + 1, out));
  *out += "} ";
  return Status::Ok();
}

Status Emit(const std::string& key, const json& v, int depth, std::string* out) {
  if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      })) {
    return InvalidArgument("config field \"" + key + "\" is not a field name");
  }
  if (key == "parameters" && v.is_object()) {
    // A map in JSON ({"k": {"string_value": "v"}}), a list of key/value messages in text.
    for (const auto& [name, entry] : v.items()) {
      if (!entry.is_object() || !entry.contains("string_value") ||
          !entry["string_value"].is_string() || entry.size() != 1) {
        return InvalidArgument("config parameter \"" + name +
                               "\" must be {\"string_value\": \"...\"}");
      }
      *out += "parameters { key: " + Quote(name) +
              " value: { string_value: " + Quote(entry["string_value"].get<std::string>()) +
              " } } ";
    }
    return Status::Ok();
  }
  if (v.is_object()) {
    *out += key + " ";
    return EmitMessage(v, depth, out);
  }
  if (v.is_array()) {
    if (v.empty()) return Status::Ok();
    *out += key + (v.front().is_object() ? " [ " : ": [ ");
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) *out += ", ";
      if (v[i].is_object() != v.front().is_object()) {
        return InvalidArgument("config field \"" + key + "\" mixes kinds of values");
      }
      if (v[i].is_object()) {
        MG_RETURN_IF_ERROR(EmitMessage(v[i], depth, out));
      } else {
        MG_RETURN_IF_ERROR(EmitScalar(key, v[i], out));
      }
    }
    *out += "] ";
    return Status::Ok();
  }
  *out += key + ": ";
  MG_RETURN_IF_ERROR(EmitScalar(key, v, out));
  *out += " ";
  return Status::Ok();
}

}  // namespace

Result<TritonModelConfig> ParseTritonConfigJson(std::string_view json_text) {
  if (json_text.size() > kMaxTritonConfigBytes) {
    return InvalidArgument("the config is larger than " + std::to_string(kMaxTritonConfigBytes) +
                           " bytes");
  }
  const json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("the config must be a JSON object (Triton's model configuration)");
  }
  std::string text;
  for (const auto& [key, value] : doc.items()) {
    if (IsTritonDefault(key, value)) continue;
    if (!kServed.count(key)) {
      return InvalidArgument("config field \"" + key + "\" is not supported by ModelGrid");
    }
    json served = value;
    if (value.is_array()) {
      for (auto& item : served) {
        MG_ASSIGN_OR_RETURN(item, Served(key, item));
      }
    } else {
      MG_ASSIGN_OR_RETURN(served, Served(key, value));
    }
    MG_RETURN_IF_ERROR(Emit(key, served, 0, &text));
  }
  auto config = ParseTritonConfig(text);
  if (!config.ok()) return InvalidArgument("config: " + config.status().message());
  return config;
}

}  // namespace modelgrid
