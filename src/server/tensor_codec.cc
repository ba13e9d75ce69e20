#include "server/tensor_codec.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include "server/float16.h"
#include "server/infer_json.h"
#include "server/json_limits.h"

namespace modelgrid::server {

Status CheckRequestParameter(const std::string& key, const nlohmann::json& value) {
  for (std::string_view reserved : kReservedRequestParameters) {
    if (key == reserved) {
      return InvalidArgument("the request's parameters: \"" + key + "\" is not supported");
    }
  }
  if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
    return InvalidArgument("the request's parameters: \"" + key +
                           "\" must be a string, a number or a boolean");
  }
  return Status::Ok();
}

namespace {

using nlohmann::json;

constexpr int64_t kMaxElements = int64_t{1} << 48;
constexpr int kMaxNesting = 64;

template <typename T>
void AppendRaw(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T ReadRaw(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Appends the leaves of a flat or nested JSON array to `out`.
Status Flatten(const json& node, int depth, std::vector<const json*>& out) {
  if (!node.is_array()) {
    out.push_back(&node);
    return Status::Ok();
  }
  if (depth >= kMaxNesting) return InvalidArgument("\"data\" is nested too deeply");
  for (const json& child : node) {
    MG_RETURN_IF_ERROR(Flatten(child, depth + 1, out));
  }
  return Status::Ok();
}

template <typename T>
Status AppendInteger(const json& v, std::string& out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return InvalidArgument("value " + BriefJson(v) + " is out of range");
    }
    AppendRaw(out, static_cast<T>(u));
    return Status::Ok();
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0 || static_cast<uint64_t>(i) > std::numeric_limits<T>::max()) {
        return InvalidArgument("value " + BriefJson(v) + " is out of range");
      }
    } else {
      if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) {
        return InvalidArgument("value " + BriefJson(v) + " is out of range");
      }
    }
    AppendRaw(out, static_cast<T>(i));
    return Status::Ok();
  }
  return InvalidArgument("expected an integer, got " + BriefJson(v));
}

// Reads a JSON number as a float, failing if it does not fit.
Result<float> ToFloat(const json& v) {
  if (!v.is_number()) return InvalidArgument("expected a number, got " + BriefJson(v));
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > FLT_MAX) {
    return InvalidArgument("value " + BriefJson(v) + " is out of range");
  }
  return static_cast<float>(d);
}

Status AppendElement(const json& v, std::string_view dt, std::string& out) {
  if (dt == "BOOL") {
    if (!v.is_boolean()) return InvalidArgument("expected a boolean, got " + BriefJson(v));
    out.push_back(v.get<bool>() ? 1 : 0);
    return Status::Ok();
  }
  if (dt == "UINT8") return AppendInteger<uint8_t>(v, out);
  if (dt == "UINT16") return AppendInteger<uint16_t>(v, out);
  if (dt == "UINT32") return AppendInteger<uint32_t>(v, out);
  if (dt == "UINT64") return AppendInteger<uint64_t>(v, out);
  if (dt == "INT8") return AppendInteger<int8_t>(v, out);
  if (dt == "INT16") return AppendInteger<int16_t>(v, out);
  if (dt == "INT32") return AppendInteger<int32_t>(v, out);
  if (dt == "INT64") return AppendInteger<int64_t>(v, out);
  if (dt == "FP64") {
    if (!v.is_number()) return InvalidArgument("expected a number, got " + BriefJson(v));
    AppendRaw(out, v.get<double>());
    return Status::Ok();
  }
  if (dt == "FP32" || dt == "FP16" || dt == "BF16") {
    MG_ASSIGN_OR_RETURN(float f, ToFloat(v));
    if (dt == "FP32") {
      AppendRaw(out, f);
      return Status::Ok();
    }
    const uint16_t bits = dt == "FP16" ? FloatToHalf(f) : FloatToBfloat16(f);
    const float back = dt == "FP16" ? HalfToFloat(bits) : Bfloat16ToFloat(bits);
    if (std::isinf(back)) return InvalidArgument("value " + BriefJson(v) + " is out of range");
    AppendRaw(out, bits);
    return Status::Ok();
  }
  if (dt == "BYTES") {
    if (!v.is_string()) return InvalidArgument("expected a string, got " + BriefJson(v));
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > std::numeric_limits<uint32_t>::max()) {
      return InvalidArgument("BYTES element too large");
    }
    AppendRaw(out, static_cast<uint32_t>(s.size()));
    out += s;
    return Status::Ok();
  }
  return InvalidArgument("unknown datatype \"" + std::string(dt) + "\"");
}

json ElementToJson(std::string_view dt, const char* p) {
  if (dt == "BOOL") return *p != 0;
  if (dt == "UINT8") return ReadRaw<uint8_t>(p);
  if (dt == "UINT16") return ReadRaw<uint16_t>(p);
  if (dt == "UINT32") return ReadRaw<uint32_t>(p);
  if (dt == "UINT64") return ReadRaw<uint64_t>(p);
  if (dt == "INT8") return ReadRaw<int8_t>(p);
  if (dt == "INT16") return ReadRaw<int16_t>(p);
  if (dt == "INT32") return ReadRaw<int32_t>(p);
  if (dt == "INT64") return ReadRaw<int64_t>(p);
  if (dt == "FP16") return HalfToFloat(ReadRaw<uint16_t>(p));
  if (dt == "BF16") return Bfloat16ToFloat(ReadRaw<uint16_t>(p));
  if (dt == "FP32") return ReadRaw<float>(p);
  return ReadRaw<double>(p);  // FP64
}

Result<std::vector<int64_t>> ParseShape(const json& j) {
  if (!j.is_array()) return InvalidArgument("\"shape\" must be an array of integers");
  std::vector<int64_t> shape;
  for (const json& d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return InvalidArgument("\"shape\" must be an array of non-negative integers");
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

// Refuses a key of `object` (a request, an input, an output or their "parameters") that
// is not in `known`, naming it: nothing a client asks for is silently ignored.
Status CheckKeys(const json& object, std::initializer_list<std::string_view> known,
                 const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return InvalidArgument(where + ": \"" + key + "\" is not supported");
    }
  }
  return Status::Ok();
}

// A non-negative integer parameter.
Result<uint64_t> UintParameter(const json& params, const char* key, const std::string& where) {
  const json& v = params[key];
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return InvalidArgument(where + ": \"" + key + "\" must be a non-negative integer");
  }
  return v.get<uint64_t>();
}

// The shared_memory_region / _byte_size / _offset parameters of an input or output, when
// it names a region.
Result<std::optional<SharedMemoryRef>> RegionParameters(const json& params,
                                                        const std::string& where) {
  if (!params.contains("shared_memory_region")) {
    if (params.contains("shared_memory_byte_size") || params.contains("shared_memory_offset")) {
      return InvalidArgument(where +
                             ": shared_memory_byte_size and shared_memory_offset need "
                             "shared_memory_region");
    }
    return std::optional<SharedMemoryRef>();
  }
  SharedMemoryRef ref;
  if (!params["shared_memory_region"].is_string()) {
    return InvalidArgument(where + ": \"shared_memory_region\" must be a string");
  }
  ref.region = params["shared_memory_region"].get<std::string>();
  if (!params.contains("shared_memory_byte_size")) {
    return InvalidArgument(where + ": shared_memory_region needs shared_memory_byte_size");
  }
  MG_ASSIGN_OR_RETURN(ref.byte_size, UintParameter(params, "shared_memory_byte_size", where));
  if (params.contains("shared_memory_offset")) {
    MG_ASSIGN_OR_RETURN(ref.offset, UintParameter(params, "shared_memory_offset", where));
  }
  return std::optional<SharedMemoryRef>(ref);
}

// Reads `parameters[key]` as a bool when present.
Result<std::optional<bool>> BoolParameter(const json& parent, const char* key) {
  auto params = parent.find("parameters");
  if (params == parent.end()) return std::optional<bool>();
  if (!params->is_object()) return InvalidArgument("\"parameters\" must be an object");
  auto it = params->find(key);
  if (it == params->end()) return std::optional<bool>();
  if (!it->is_boolean()) return InvalidArgument(std::string("\"") + key + "\" must be a boolean");
  return std::optional<bool>(it->get<bool>());
}

// The binary output flag of an output or request: "binary_data" (Triton) or
// "binary_data_output".
Result<std::optional<bool>> BinaryFlag(const json& parent) {
  MG_ASSIGN_OR_RETURN(std::optional<bool> a, BoolParameter(parent, "binary_data"));
  MG_ASSIGN_OR_RETURN(std::optional<bool> b, BoolParameter(parent, "binary_data_output"));
  return b.has_value() ? b : a;
}

Result<Tensor> ParseInput(const json& j, std::string_view binary, size_t& binary_offset,
                          std::optional<SharedMemoryRef>* region) {
  if (!j.is_object()) return InvalidArgument("each input must be an object");
  Tensor t;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return InvalidArgument("input without a name");
  t.name = name->get<std::string>();
  const std::string where = "input \"" + t.name + "\"";
  MG_RETURN_IF_ERROR(CheckKeys(j, {"name", "datatype", "shape", "parameters", "data"}, where));
  auto dt = j.find("datatype");
  if (dt == j.end() || !dt->is_string()) {
    return InvalidArgument("input \"" + t.name + "\": missing datatype");
  }
  t.datatype = dt->get<std::string>();
  if (!DatatypeElementBytes(t.datatype)) {
    return InvalidArgument("input \"" + t.name + "\": unknown datatype \"" + t.datatype + "\"");
  }
  auto shape = j.find("shape");
  if (shape == j.end()) return InvalidArgument("input \"" + t.name + "\": missing shape");
  {
    auto parsed = ParseShape(*shape);
    if (!parsed.ok()) return parsed.status().WithContext("input \"" + t.name + "\"");
    t.shape = std::move(parsed).value();
  }
  std::optional<uint64_t> binary_size;
  if (auto params = j.find("parameters"); params != j.end()) {
    if (!params->is_object()) return InvalidArgument("\"parameters\" must be an object");
    MG_RETURN_IF_ERROR(CheckKeys(*params,
                                 {"binary_data_size", "shared_memory_region",
                                  "shared_memory_byte_size", "shared_memory_offset"},
                                 where + " parameters"));
    MG_ASSIGN_OR_RETURN(*region, RegionParameters(*params, where));
    if (*region && (params->contains("binary_data_size") || j.contains("data"))) {
      return InvalidArgument(where + " names a shared-memory region and also carries data");
    }
    if (*region) {
      // The front end reads the bytes from the region; the shape and type are checked then.
      return t;
    }
    if (auto k = params->find("binary_data_size"); k != params->end()) {
      if (!k->is_number_unsigned() && !(k->is_number_integer() && k->get<int64_t>() >= 0)) {
        return InvalidArgument("input \"" + t.name + "\": bad binary_data_size");
      }
      binary_size = k->get<uint64_t>();
    }
  }
  const bool has_data = j.contains("data");
  if (binary_size) {
    if (has_data) {
      return InvalidArgument("input \"" + t.name + "\" has both \"data\" and binary_data_size");
    }
    if (*binary_size > binary.size() - binary_offset) {
      return InvalidArgument("input \"" + t.name + "\": binary_data_size " +
                             std::to_string(*binary_size) + " exceeds the binary data left");
    }
    t.data.assign(binary.substr(binary_offset, *binary_size));
    binary_offset += *binary_size;
    Status valid = ValidateTensorData(t);
    if (!valid.ok()) return valid.WithContext("input \"" + t.name + "\"");
    return t;
  }
  if (!has_data) return InvalidArgument("input \"" + t.name + "\" has no \"data\"");
  auto data = EncodeJsonData(j["data"], t.datatype, t.shape);
  if (!data.ok()) return data.status().WithContext("input \"" + t.name + "\"");
  t.data = std::move(data).value();
  return t;
}

Result<InferRequest> ParseRequestJson(const json& doc, std::string_view binary) {
  if (!doc.is_object()) return InvalidArgument("request body must be a JSON object");
  InferRequest req;
  if (auto id = doc.find("id"); id != doc.end()) {
    if (!id->is_string()) return InvalidArgument("\"id\" must be a string");
    req.id = id->get<std::string>();
  }
  MG_RETURN_IF_ERROR(CheckKeys(doc, {"id", "parameters", "inputs", "outputs"}, "the request"));
  if (auto params = doc.find("parameters"); params != doc.end()) {
    if (!params->is_object()) return InvalidArgument("\"parameters\" must be an object");
    // Triton's core parameters ModelGrid does not have (sequence_id, priority, timeout) are
    // refused by name; custom ones go to the service, which refuses them for models that
    // take none.
    for (const auto& [key, value] : params->items()) {
      MG_RETURN_IF_ERROR(CheckRequestParameter(key, value));
    }
    req.parameters = *params;
  }
  MG_ASSIGN_OR_RETURN(std::optional<bool> global_binary, BinaryFlag(doc));
  if (global_binary) req.binary_outputs[""] = *global_binary;

  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array()) {
    return InvalidArgument("request needs an \"inputs\" array");
  }
  size_t binary_offset = 0;
  std::set<std::string> names;
  for (const json& input : *inputs) {
    std::optional<SharedMemoryRef> region;
    MG_ASSIGN_OR_RETURN(Tensor t, ParseInput(input, binary, binary_offset, &region));
    if (!names.insert(t.name).second) {
      return InvalidArgument("input \"" + t.name + "\" appears twice");
    }
    if (region) req.input_regions[t.name] = *region;
    req.inputs.push_back(std::move(t));
  }
  if (binary_offset != binary.size()) {
    return InvalidArgument(std::to_string(binary.size() - binary_offset) +
                           " bytes of binary data belong to no input");
  }
  if (auto outputs = doc.find("outputs"); outputs != doc.end()) {
    if (!outputs->is_array()) return InvalidArgument("\"outputs\" must be an array");
    for (const json& out : *outputs) {
      if (!out.is_object() || !out.contains("name") || !out["name"].is_string()) {
        return InvalidArgument("each output needs a \"name\"");
      }
      std::string name = out["name"].get<std::string>();
      if (std::find(req.requested_outputs.begin(), req.requested_outputs.end(), name) !=
          req.requested_outputs.end()) {
        return InvalidArgument("output \"" + name + "\" is requested twice");
      }
      const std::string where = "output \"" + name + "\"";
      MG_RETURN_IF_ERROR(CheckKeys(out, {"name", "parameters"}, where));
      MG_ASSIGN_OR_RETURN(std::optional<bool> binary_flag, BinaryFlag(out));
      if (binary_flag) req.binary_outputs[name] = *binary_flag;
      if (auto params = out.find("parameters"); params != out.end()) {
        MG_RETURN_IF_ERROR(
            CheckKeys(*params,
                      {"binary_data", "binary_data_output", "classification",
                       "shared_memory_region", "shared_memory_byte_size", "shared_memory_offset"},
                      where + " parameters"));
        if (params->contains("classification")) {
          const json& c = (*params)["classification"];
          if (!c.is_number_integer() || c.get<int64_t>() < 1 || c.get<int64_t>() > (1 << 20)) {
            return InvalidArgument(where + ": \"classification\" must be an integer >= 1");
          }
          req.class_counts[name] = static_cast<int>(c.get<int64_t>());
        }
        MG_ASSIGN_OR_RETURN(std::optional<SharedMemoryRef> region,
                            RegionParameters(*params, where));
        if (region && binary_flag.value_or(false)) {
          return InvalidArgument(where + " asks for binary data and a shared-memory region");
        }
        if (region) req.output_regions[name] = *region;
      }
      req.requested_outputs.push_back(std::move(name));
    }
  }
  return req;
}

}  // namespace

std::optional<size_t> DatatypeElementBytes(std::string_view dt) {
  if (dt == "BOOL" || dt == "UINT8" || dt == "INT8") return 1;
  if (dt == "UINT16" || dt == "INT16" || dt == "FP16" || dt == "BF16") return 2;
  if (dt == "UINT32" || dt == "INT32" || dt == "FP32") return 4;
  if (dt == "UINT64" || dt == "INT64" || dt == "FP64") return 8;
  if (dt == "BYTES") return 0;
  return std::nullopt;
}

Result<int64_t> ElementCount(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument("negative dimension in shape");
    if (d != 0 && count > kMaxElements / d) return InvalidArgument("shape is too large");
    count *= d;
  }
  return count;
}

Status ValidateTensorData(const Tensor& t) {
  std::optional<size_t> element_bytes = DatatypeElementBytes(t.datatype);
  if (!element_bytes) return InvalidArgument("unknown datatype \"" + t.datatype + "\"");
  MG_ASSIGN_OR_RETURN(int64_t count, ElementCount(t.shape));
  if (*element_bytes > 0) {
    const uint64_t want = static_cast<uint64_t>(count) * *element_bytes;
    if (t.data.size() != want) {
      return InvalidArgument("expected " + std::to_string(want) + " bytes for " +
                             std::to_string(count) + " " + t.datatype + " elements, got " +
                             std::to_string(t.data.size()));
    }
    return Status::Ok();
  }
  // BYTES: walk the length prefixes.
  int64_t seen = 0;
  size_t pos = 0;
  while (pos < t.data.size()) {
    if (t.data.size() - pos < 4) return InvalidArgument("truncated BYTES length prefix");
    const uint32_t len = ReadRaw<uint32_t>(t.data.data() + pos);
    pos += 4;
    if (len > t.data.size() - pos) return InvalidArgument("BYTES element overruns its data");
    pos += len;
    ++seen;
  }
  if (seen != count) {
    return InvalidArgument("expected " + std::to_string(count) + " BYTES elements, got " +
                           std::to_string(seen));
  }
  return Status::Ok();
}

Result<std::string> EncodeJsonData(const json& data, std::string_view datatype,
                                   const std::vector<int64_t>& shape) {
  std::optional<size_t> element_bytes = DatatypeElementBytes(datatype);
  if (!element_bytes) return InvalidArgument("unknown datatype \"" + std::string(datatype) + "\"");
  MG_ASSIGN_OR_RETURN(int64_t count, ElementCount(shape));
  std::vector<const json*> leaves;
  MG_RETURN_IF_ERROR(Flatten(data, 0, leaves));
  if (static_cast<int64_t>(leaves.size()) != count) {
    return InvalidArgument("shape calls for " + std::to_string(count) +
                           " elements but \"data\" has " + std::to_string(leaves.size()));
  }
  std::string out;
  out.reserve(leaves.size() * (*element_bytes > 0 ? *element_bytes : 8));
  for (const json* leaf : leaves) {
    MG_RETURN_IF_ERROR(AppendElement(*leaf, datatype, out));
  }
  return out;
}

Result<json> DecodeJsonData(const Tensor& t) {
  MG_RETURN_IF_ERROR(ValidateTensorData(t));
  json out = json::array();
  if (t.datatype == "BYTES") {
    size_t pos = 0;
    while (pos < t.data.size()) {
      const uint32_t len = ReadRaw<uint32_t>(t.data.data() + pos);
      out.push_back(t.data.substr(pos + 4, len));
      pos += 4 + len;
    }
    return out;
  }
  const size_t step = *DatatypeElementBytes(t.datatype);
  for (size_t pos = 0; pos < t.data.size(); pos += step) {
    out.push_back(ElementToJson(t.datatype, t.data.data() + pos));
  }
  return out;
}

namespace {

// Appends one element as JSON text; `buf` holds the longest number (a double: 24 chars).
// NaN and the infinities, which JSON lacks, are written as Triton's JSON writer writes them
// (the tokens NaN, Infinity and -Infinity, which Python's json module and Triton's clients
// read back), never as null.
template <typename T>
void AppendNumber(T value, std::string* out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) {
      out->append(std::isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
      return;
    }
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, ec == std::errc() ? end : buf);
}

template <typename T>
void AppendNumbers(const std::string& data, std::string* out) {
  for (size_t pos = 0; pos < data.size(); pos += sizeof(T)) {
    if (pos > 0) out->push_back(',');
    AppendNumber(ReadRaw<T>(data.data() + pos), out);
  }
}

template <float (*Convert)(uint16_t)>
void AppendHalves(const std::string& data, std::string* out) {
  for (size_t pos = 0; pos < data.size(); pos += 2) {
    if (pos > 0) out->push_back(',');
    AppendNumber(Convert(ReadRaw<uint16_t>(data.data() + pos)), out);
  }
}

}  // namespace

Status AppendJsonData(const Tensor& t, std::string* out) {
  MG_RETURN_IF_ERROR(ValidateTensorData(t));
  const std::string_view dt = t.datatype;
  if (dt == "BYTES") {
    MG_ASSIGN_OR_RETURN(json values, DecodeJsonData(t));
    out->append(DumpJson(values));
    return Status::Ok();
  }
  out->reserve(out->size() + 2 + t.data.size() * 3);
  out->push_back('[');
  if (dt == "BOOL") {
    for (size_t i = 0; i < t.data.size(); ++i)
      out->append(i ? (t.data[i] ? ",true" : ",false") : (t.data[i] ? "true" : "false"));
  } else {
    using Appender = void (*)(const std::string&, std::string*);
    static constexpr std::pair<std::string_view, Appender> kAppenders[] = {
        {"UINT8", AppendNumbers<uint8_t>},   {"UINT16", AppendNumbers<uint16_t>},
        {"UINT32", AppendNumbers<uint32_t>}, {"UINT64", AppendNumbers<uint64_t>},
        {"INT8", AppendNumbers<int8_t>},     {"INT16", AppendNumbers<int16_t>},
        {"INT32", AppendNumbers<int32_t>},   {"INT64", AppendNumbers<int64_t>},
        {"FP16", AppendHalves<HalfToFloat>}, {"BF16", AppendHalves<Bfloat16ToFloat>},
        {"FP32", AppendNumbers<float>},      {"FP64", AppendNumbers<double>},
    };
    for (const auto& [name, append] : kAppenders) {
      if (name == dt) append(t.data, out);  // ValidateTensorData knows no other datatype
    }
  }
  out->push_back(']');
  return Status::Ok();
}

Result<InferRequest> DecodeInferRequest(std::string_view body,
                                        std::optional<size_t> header_length) {
  std::string_view header = body;
  std::string_view binary;
  if (header_length) {
    if (*header_length > body.size()) {
      return InvalidArgument("Inference-Header-Content-Length " + std::to_string(*header_length) +
                             " exceeds the body size " + std::to_string(body.size()));
    }
    header = body.substr(0, *header_length);
    binary = body.substr(*header_length);
  }
  MG_RETURN_IF_ERROR(CheckJsonLimits(header));  // before any value is built
  json doc = ParseInferJson(header);            // json::parse's result, faster for numeric data
  if (doc.is_discarded()) return InvalidArgument("request body is not valid JSON");
  try {
    return ParseRequestJson(doc, binary);
  } catch (const json::exception& e) {  // a type mismatch the checks above missed
    return InvalidArgument(std::string("malformed request: ") + e.what());
  }
}

bool WantsBinaryOutput(const std::map<std::string, bool>& binary_outputs, const std::string& name) {
  if (auto it = binary_outputs.find(name); it != binary_outputs.end()) return it->second;
  if (auto it = binary_outputs.find(""); it != binary_outputs.end()) return it->second;
  return false;
}

Result<EncodedInferResponse> EncodeInferResponse(const InferResponse& response,
                                                 const InferRequest& request_info) {
  std::vector<const Tensor*> chosen;
  if (request_info.requested_outputs.empty()) {
    for (const Tensor& t : response.outputs) chosen.push_back(&t);
  } else {
    for (const std::string& name : request_info.requested_outputs) {
      const Tensor* found = nullptr;
      for (const Tensor& t : response.outputs) {
        if (t.name == name) found = &t;
      }
      if (!found) return Internal("the model returned no output \"" + name + "\"");
      chosen.push_back(found);
    }
  }
  json doc = {{"model_name", response.model.empty() ? request_info.model : response.model}};
  const std::string& version = response.version.empty() ? request_info.version : response.version;
  if (!version.empty()) doc["model_version"] = version;
  const std::string& id = response.id.empty() ? request_info.id : response.id;
  if (!id.empty()) doc["id"] = id;
  // The document is written by hand around the outputs, so that their data goes straight
  // from the tensors into the text: {<doc's fields>,"outputs":[{<fields>,"data":[...]}]}.
  EncodedInferResponse encoded;
  std::string& body = encoded.body;
  body = DumpJson(doc);
  body.pop_back();  // the closing brace
  body += ",\"outputs\":[";
  std::string binary;
  bool any_binary = false;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const Tensor* t = chosen[i];
    Status valid = ValidateTensorData(*t);
    if (!valid.ok()) {
      return Internal("the model returned a malformed output \"" + t->name +
                      "\": " + valid.message());
    }
    json out = {{"name", t->name}, {"datatype", t->datatype}, {"shape", t->shape}};
    if (auto region = request_info.output_regions.find(t->name);
        region != request_info.output_regions.end()) {
      // Its bytes are in the client's region already (the front end wrote them).
      out["parameters"] = {{"shared_memory_region", region->second.region},
                           {"shared_memory_byte_size", t->data.size()}};
      if (i > 0) body.push_back(',');
      body += DumpJson(out);
      continue;
    }
    const bool as_binary = WantsBinaryOutput(request_info.binary_outputs, t->name);
    if (as_binary) {
      out["parameters"] = {{"binary_data_size", t->data.size()}};
      binary += t->data;
      any_binary = true;
    }
    if (i > 0) body.push_back(',');
    body += DumpJson(out);
    if (!as_binary) {
      body.pop_back();
      body += ",\"data\":";
      MG_RETURN_IF_ERROR(AppendJsonData(*t, &body));
      body.push_back('}');
    }
  }
  body += "]}";
  if (any_binary) {
    encoded.header_length = encoded.body.size();
    encoded.body += binary;
  }
  return encoded;
}

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace modelgrid::server
