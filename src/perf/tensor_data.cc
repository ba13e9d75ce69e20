#include "perf/tensor_data.h"

#include "server/tensor_codec.h"

namespace modelgrid::perf {

namespace {

using nlohmann::json;

// A copy of `values` with the integers 0 and 1 as booleans, at any depth.
json IntegersAsBooleans(const json& values) {
  if (values.is_array()) {
    json out = json::array();
    for (const json& v : values) out.push_back(IntegersAsBooleans(v));
    return out;
  }
  if (values.is_number_integer() && (values == 0 || values == 1)) return json(values == 1);
  return values;
}

}  // namespace

Result<int64_t> ElementCount(const std::vector<int64_t>& shape) {
  MG_ASSIGN_OR_RETURN(const int64_t count, server::ElementCount(shape));
  if (count > kMaxElements) return InvalidArgument("tensor too large");
  return count;
}

Result<TensorData> GenerateTensor(const std::string& name, const std::string& datatype,
                                  const std::vector<int64_t>& shape, DataMode mode,
                                  std::mt19937_64& rng) {
  const std::optional<size_t> width = server::DatatypeElementBytes(datatype);
  if (!width) return InvalidArgument("input \"" + name + "\": unknown datatype " + datatype);
  if (*width == 0) {
    return Unsupported("input \"" + name + "\" is BYTES: give its values with --input-data FILE");
  }
  MG_ASSIGN_OR_RETURN(const int64_t count, ElementCount(shape));
  TensorData t{name, datatype, shape, {}};
  if (mode == DataMode::kZero) {
    t.data.assign(static_cast<size_t>(count) * *width, '\0');
    return t;
  }
  // Values as JSON, then the codec's conversion: generated data is what a JSON request with
  // these numbers would carry.
  const bool is_float = datatype[0] == 'F' || datatype == "BF16";
  const bool is_bool = datatype == "BOOL";
  std::uniform_real_distribution<float> real(0.0f, 1.0f);
  std::uniform_int_distribution<int> integer(0, is_bool ? 1 : 99);
  json values = json::array();
  for (int64_t i = 0; i < count; ++i) {
    if (is_float) {
      values.push_back(real(rng));
    } else if (is_bool) {
      values.push_back(integer(rng) == 1);
    } else {
      values.push_back(integer(rng));
    }
  }
  MG_ASSIGN_OR_RETURN(t.data, server::EncodeJsonData(values, datatype, shape));
  return t;
}

Result<std::string> JsonToRaw(const json& values, std::string_view datatype,
                              const std::vector<int64_t>& shape) {
  MG_RETURN_IF_ERROR(ElementCount(shape).status());
  return server::EncodeJsonData(datatype == "BOOL" ? IntegersAsBooleans(values) : values, datatype,
                                shape);
}

}  // namespace modelgrid::perf
