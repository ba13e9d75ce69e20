#include "grpc/infer_proto.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include "server/tensor_codec.h"

namespace modelgrid::rpc {

namespace {

using inference::InferParameter;
using inference::InferTensorContents;
using server::InferRequest;
using server::SharedMemoryRef;
using server::Tensor;
using ParameterMap = google::protobuf::Map<std::string, InferParameter>;

Status CheckParameters(const ParameterMap& params, std::initializer_list<std::string_view> known,
                       const std::string& where) {
  for (const auto& [key, value] : params) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return InvalidArgument(where + ": parameter \"" + key + "\" is not supported");
    }
  }
  return Status::Ok();
}

// A non-negative integer parameter, as int64_param or uint64_param.
Result<uint64_t> UintParameter(const InferParameter& p, const std::string& what) {
  if (p.parameter_choice_case() == InferParameter::kUint64Param) return p.uint64_param();
  if (p.parameter_choice_case() == InferParameter::kInt64Param && p.int64_param() >= 0) {
    return static_cast<uint64_t>(p.int64_param());
  }
  return InvalidArgument(what + " must be a non-negative int64_param or uint64_param");
}

Status BoolParameter(const ParameterMap& params, const char* key, const std::string& where) {
  auto it = params.find(key);
  if (it != params.end() && it->second.parameter_choice_case() != InferParameter::kBoolParam) {
    return InvalidArgument(where + ": \"" + key + "\" must be a bool_param");
  }
  return Status::Ok();
}

// The shared-memory parameters of an input or output, when it has them.
Result<std::optional<SharedMemoryRef>> RegionParameters(const ParameterMap& params,
                                                        const std::string& where) {
  auto region = params.find("shared_memory_region");
  if (region == params.end()) {
    if (params.count("shared_memory_byte_size") || params.count("shared_memory_offset")) {
      return InvalidArgument(where +
                             ": shared_memory_byte_size and shared_memory_offset need "
                             "shared_memory_region");
    }
    return std::optional<SharedMemoryRef>();
  }
  if (region->second.parameter_choice_case() != InferParameter::kStringParam) {
    return InvalidArgument(where + ": \"shared_memory_region\" must be a string_param");
  }
  SharedMemoryRef ref;
  ref.region = region->second.string_param();
  auto size = params.find("shared_memory_byte_size");
  if (size == params.end()) {
    return InvalidArgument(where + ": shared_memory_region needs shared_memory_byte_size");
  }
  MG_ASSIGN_OR_RETURN(ref.byte_size,
                      UintParameter(size->second, where + ": shared_memory_byte_size"));
  if (auto offset = params.find("shared_memory_offset"); offset != params.end()) {
    MG_ASSIGN_OR_RETURN(ref.offset,
                        UintParameter(offset->second, where + ": shared_memory_offset"));
  }
  return std::optional<SharedMemoryRef>(ref);
}

// Appends `values` as little-endian elements of type T, each checked to fit T.
template <typename T, typename Values>
Status Pack(const Values& values, const std::string& where, std::string* out) {
  out->reserve(values.size() * sizeof(T));
  for (const auto& v : values) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(v)>, bool> && std::is_integral_v<T>) {
      if (!std::in_range<T>(v)) {
        return InvalidArgument(where + ": value " + std::to_string(v) + " is out of range");
      }
    }
    const T element = static_cast<T>(v);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &element, sizeof(T));
    out->append(bytes, sizeof(T));
  }
  return Status::Ok();
}

// Which field of InferTensorContents carries `datatype`, and how many values it holds.
struct TypedField {
  const char* name;
  int size;
};

Result<TypedField> FieldFor(const InferTensorContents& c, const std::string& datatype,
                            const std::string& where) {
  if (datatype == "BOOL") return TypedField{"bool_contents", c.bool_contents_size()};
  if (datatype == "INT8" || datatype == "INT16" || datatype == "INT32") {
    return TypedField{"int_contents", c.int_contents_size()};
  }
  if (datatype == "INT64") return TypedField{"int64_contents", c.int64_contents_size()};
  if (datatype == "UINT8" || datatype == "UINT16" || datatype == "UINT32") {
    return TypedField{"uint_contents", c.uint_contents_size()};
  }
  if (datatype == "UINT64") return TypedField{"uint64_contents", c.uint64_contents_size()};
  if (datatype == "FP32") return TypedField{"fp32_contents", c.fp32_contents_size()};
  if (datatype == "FP64") return TypedField{"fp64_contents", c.fp64_contents_size()};
  if (datatype == "BYTES") return TypedField{"bytes_contents", c.bytes_contents_size()};
  return InvalidArgument(where + ": " + datatype +
                         " has no typed contents field; send it in raw_input_contents");
}

// The bytes of a tensor given as typed `contents`: exactly the field of its datatype, with
// one value per element.
Result<std::string> TypedContents(const InferTensorContents& c, const Tensor& t,
                                  const std::string& where) {
  MG_ASSIGN_OR_RETURN(TypedField field, FieldFor(c, t.datatype, where));
  const int total = c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() +
                    c.uint_contents_size() + c.uint64_contents_size() + c.fp32_contents_size() +
                    c.fp64_contents_size() + c.bytes_contents_size();
  if (total != field.size) {
    return InvalidArgument(where + ": a " + t.datatype + " tensor's contents go in " + field.name +
                           " only");
  }
  MG_ASSIGN_OR_RETURN(int64_t count, server::ElementCount(t.shape));
  if (field.size != count) {
    return InvalidArgument(where + ": " + field.name + " has " + std::to_string(field.size) +
                           " values, its shape needs " + std::to_string(count));
  }
  std::string out;
  const std::string& d = t.datatype;
  Status packed = Status::Ok();
  if (d == "BOOL") packed = Pack<uint8_t>(c.bool_contents(), where, &out);
  if (d == "INT8") packed = Pack<int8_t>(c.int_contents(), where, &out);
  if (d == "INT16") packed = Pack<int16_t>(c.int_contents(), where, &out);
  if (d == "INT32") packed = Pack<int32_t>(c.int_contents(), where, &out);
  if (d == "INT64") packed = Pack<int64_t>(c.int64_contents(), where, &out);
  if (d == "UINT8") packed = Pack<uint8_t>(c.uint_contents(), where, &out);
  if (d == "UINT16") packed = Pack<uint16_t>(c.uint_contents(), where, &out);
  if (d == "UINT32") packed = Pack<uint32_t>(c.uint_contents(), where, &out);
  if (d == "UINT64") packed = Pack<uint64_t>(c.uint64_contents(), where, &out);
  if (d == "FP32") packed = Pack<float>(c.fp32_contents(), where, &out);
  if (d == "FP64") packed = Pack<double>(c.fp64_contents(), where, &out);
  if (d == "BYTES") {
    for (const std::string& element : c.bytes_contents()) {
      if (element.size() > std::numeric_limits<uint32_t>::max()) {
        return InvalidArgument(where + ": a BYTES element is over 4 GiB");
      }
      const auto length = static_cast<uint32_t>(element.size());
      char prefix[4];
      std::memcpy(prefix, &length, 4);
      out.append(prefix, 4);
      out += element;
    }
  }
  MG_RETURN_IF_ERROR(packed);
  return out;
}

Status ReadOutputs(const inference::ModelInferRequest& proto, InferRequest* req) {
  for (const auto& out : proto.outputs()) {
    const std::string& name = out.name();
    const std::string where = "output \"" + name + "\"";
    if (name.empty()) return InvalidArgument("each output needs a name");
    if (std::find(req->requested_outputs.begin(), req->requested_outputs.end(), name) !=
        req->requested_outputs.end()) {
      return InvalidArgument(where + " is requested twice");
    }
    const ParameterMap& params = out.parameters();
    MG_RETURN_IF_ERROR(CheckParameters(params,
                                       {"classification", "binary_data", "shared_memory_region",
                                        "shared_memory_byte_size", "shared_memory_offset"},
                                       where));
    MG_RETURN_IF_ERROR(BoolParameter(params, "binary_data", where));
    if (auto c = params.find("classification"); c != params.end()) {
      auto count = UintParameter(c->second, where + ": \"classification\"");
      if (!count.ok() || *count < 1 || *count > uint64_t{1} << 20) {
        return InvalidArgument(where + ": \"classification\" must be an integer >= 1");
      }
      req->class_counts[name] = static_cast<int>(*count);
    }
    MG_ASSIGN_OR_RETURN(std::optional<SharedMemoryRef> region, RegionParameters(params, where));
    if (region) req->output_regions[name] = *region;
    req->requested_outputs.push_back(name);
  }
  return Status::Ok();
}

}  // namespace

Result<InferRequest> RequestFromProto(inference::ModelInferRequest& proto) {
  InferRequest req;
  req.model = proto.model_name();
  req.version = proto.model_version();
  req.id = proto.id();
  MG_RETURN_IF_ERROR(
      BoolParameter(proto.parameters(), "binary_data_output", "the request's parameters"));
  // Triton's core parameters are refused by name; custom ones go to the service (as JSON
  // values), which refuses them for models that take none.
  for (const auto& [key, value] : proto.parameters()) {
    for (std::string_view reserved : server::kReservedRequestParameters) {
      if (key == reserved) {
        return InvalidArgument("the request's parameters: parameter \"" + key +
                               "\" is not supported");
      }
    }
    switch (value.parameter_choice_case()) {
      case InferParameter::kBoolParam:
        req.parameters[key] = value.bool_param();
        break;
      case InferParameter::kInt64Param:
        req.parameters[key] = value.int64_param();
        break;
      case InferParameter::kUint64Param:
        req.parameters[key] = value.uint64_param();
        break;
      case InferParameter::kDoubleParam:
        req.parameters[key] = value.double_param();
        break;
      case InferParameter::kStringParam:
        req.parameters[key] = value.string_param();
        break;
      default:
        return InvalidArgument("the request's parameters: parameter \"" + key + "\" has no value");
    }
  }
  auto* raw = proto.mutable_raw_input_contents();
  int next_raw = 0;
  bool typed = false;
  std::set<std::string> names;
  for (auto& input : *proto.mutable_inputs()) {
    Tensor t;
    t.name = input.name();
    const std::string where = "input \"" + t.name + "\"";
    if (t.name.empty()) return InvalidArgument("each input needs a name");
    if (!names.insert(t.name).second) return InvalidArgument(where + " appears twice");
    t.datatype = input.datatype();
    if (!server::DatatypeElementBytes(t.datatype)) {
      return InvalidArgument(where + ": unknown datatype \"" + t.datatype + "\"");
    }
    t.shape.assign(input.shape().begin(), input.shape().end());
    MG_RETURN_IF_ERROR(server::ElementCount(t.shape).status().WithContext(where));
    const ParameterMap& params = input.parameters();
    MG_RETURN_IF_ERROR(CheckParameters(
        params, {"shared_memory_region", "shared_memory_byte_size", "shared_memory_offset"},
        where));
    MG_ASSIGN_OR_RETURN(std::optional<SharedMemoryRef> region, RegionParameters(params, where));
    if (region) {
      if (input.has_contents()) {
        return InvalidArgument(where + ": its data is in shared memory and in contents");
      }
      req.input_regions[t.name] = *region;
    } else if (input.has_contents()) {
      typed = true;
      MG_ASSIGN_OR_RETURN(t.data, TypedContents(input.contents(), t, where));
    } else {
      if (next_raw >= raw->size()) {
        return InvalidArgument(where + " has no data: no contents, no shared memory and no " +
                               "raw_input_contents entry left for it");
      }
      t.data.swap(*raw->Mutable(next_raw++));
    }
    if (!region) MG_RETURN_IF_ERROR(server::ValidateTensorData(t).WithContext(where));
    req.inputs.push_back(std::move(t));
  }
  if (typed && next_raw > 0) {
    return InvalidArgument("inputs in contents and in raw_input_contents do not mix");
  }
  if (next_raw != raw->size()) {
    return InvalidArgument("raw_input_contents has " + std::to_string(raw->size()) +
                           " entries but " + std::to_string(next_raw) +
                           " inputs take their data from it");
  }
  MG_RETURN_IF_ERROR(ReadOutputs(proto, &req));
  return req;
}

Status ResponseToProto(server::InferResponse response, const InferRequest& request_info,
                       inference::ModelInferResponse* out) {
  out->set_model_name(response.model.empty() ? request_info.model : response.model);
  out->set_model_version(response.version.empty() ? request_info.version : response.version);
  out->set_id(response.id.empty() ? request_info.id : response.id);
  std::vector<Tensor*> order;
  if (request_info.requested_outputs.empty()) {
    for (Tensor& t : response.outputs) order.push_back(&t);
  } else {
    for (const std::string& name : request_info.requested_outputs) {
      auto t = std::find_if(response.outputs.begin(), response.outputs.end(),
                            [&](const Tensor& o) { return o.name == name; });
      if (t == response.outputs.end()) {
        return Internal("the model returned no output \"" + name + "\"");
      }
      order.push_back(&*t);
    }
  }
  for (Tensor* t : order) {
    auto* o = out->add_outputs();
    o->set_name(t->name);
    o->set_datatype(t->datatype);
    for (int64_t d : t->shape) o->add_shape(d);
    auto region = request_info.output_regions.find(t->name);
    if (region != request_info.output_regions.end()) {
      auto& params = *o->mutable_parameters();
      params["shared_memory_region"].set_string_param(region->second.region);
      params["shared_memory_byte_size"].set_int64_param(static_cast<int64_t>(t->data.size()));
      if (region->second.offset > 0) {
        params["shared_memory_offset"].set_int64_param(static_cast<int64_t>(region->second.offset));
      }
      out->add_raw_output_contents();
    } else {
      out->add_raw_output_contents(std::move(t->data));
    }
  }
  return Status::Ok();
}

}  // namespace modelgrid::rpc
