#include "perf/tensor_data.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace modelgrid::perf {

namespace {

using nlohmann::json;

template <typename T>
void Append(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T Load(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

void Flatten(const json& values, std::vector<const json*>& out) {
  if (!values.is_array()) {
    out.push_back(&values);
    return;
  }
  for (const json& v : values) Flatten(v, out);
}

// Appends integer `v` as T when it is a whole number in T's range.
template <typename T>
bool AppendInteger(const json& v, std::string& out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    Append<T>(out, static_cast<T>(u));
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0 || static_cast<uint64_t>(i) > std::numeric_limits<T>::max()) return false;
    } else {
      if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) return false;
    }
    Append<T>(out, static_cast<T>(i));
    return true;
  }
  return false;
}

bool AppendElement(const json& v, std::string_view dt, std::string& out) {
  if (dt == "BOOL") {
    if (v.is_boolean()) return Append<uint8_t>(out, v.get<bool>() ? 1 : 0), true;
    if (v.is_number_integer() && (v == 0 || v == 1)) return Append<uint8_t>(out, v == 1), true;
    return false;
  }
  if (dt == "BYTES") {
    if (!v.is_string()) return false;
    const std::string& s = v.get_ref<const std::string&>();
    Append<uint32_t>(out, static_cast<uint32_t>(s.size()));
    out += s;
    return true;
  }
  if (dt == "FP16" || dt == "BF16" || dt == "FP32" || dt == "FP64") {
    if (!v.is_number()) return false;
    const double d = v.get<double>();
    if (dt == "FP64") return Append<double>(out, d), true;
    const float f = static_cast<float>(d);
    if (dt == "FP32") return Append<float>(out, f), true;
    return Append<uint16_t>(out, dt == "FP16" ? FloatToHalf(f) : FloatToBf16(f)), true;
  }
  if (dt == "UINT8") return AppendInteger<uint8_t>(v, out);
  if (dt == "UINT16") return AppendInteger<uint16_t>(v, out);
  if (dt == "UINT32") return AppendInteger<uint32_t>(v, out);
  if (dt == "UINT64") return AppendInteger<uint64_t>(v, out);
  if (dt == "INT8") return AppendInteger<int8_t>(v, out);
  if (dt == "INT16") return AppendInteger<int16_t>(v, out);
  if (dt == "INT32") return AppendInteger<int32_t>(v, out);
  if (dt == "INT64") return AppendInteger<int64_t>(v, out);
  return false;
}

json ElementToJson(const char* p, std::string_view dt) {
  if (dt == "BOOL") return *p != 0;
  if (dt == "UINT8") return Load<uint8_t>(p);
  if (dt == "UINT16") return Load<uint16_t>(p);
  if (dt == "UINT32") return Load<uint32_t>(p);
  if (dt == "UINT64") return Load<uint64_t>(p);
  if (dt == "INT8") return Load<int8_t>(p);
  if (dt == "INT16") return Load<int16_t>(p);
  if (dt == "INT32") return Load<int32_t>(p);
  if (dt == "INT64") return Load<int64_t>(p);
  if (dt == "FP16") return HalfToFloat(Load<uint16_t>(p));
  if (dt == "BF16") return Bf16ToFloat(Load<uint16_t>(p));
  if (dt == "FP32") return Load<float>(p);
  return Load<double>(p);  // FP64
}

}  // namespace

std::optional<size_t> ElementBytes(std::string_view dt) {
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
    if (d != 0 && count > (int64_t{1} << 40) / d) return InvalidArgument("tensor too large");
    count *= d;
  }
  return count;
}

Result<TensorData> GenerateTensor(const std::string& name, const std::string& datatype,
                                  const std::vector<int64_t>& shape, DataMode mode,
                                  std::mt19937_64& rng) {
  const std::optional<size_t> width = ElementBytes(datatype);
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
  t.data.reserve(static_cast<size_t>(count) * *width);
  const bool is_float = datatype[0] == 'F' || datatype == "BF16";
  std::uniform_real_distribution<float> real(0.0f, 1.0f);
  std::uniform_int_distribution<int> integer(0, datatype == "BOOL" ? 1 : 99);
  for (int64_t i = 0; i < count; ++i) {
    const json v = is_float ? json(real(rng)) : json(integer(rng));
    if (!AppendElement(datatype == "BOOL" ? json(v == 1) : v, datatype, t.data)) {
      return Internal("cannot generate " + datatype);
    }
  }
  return t;
}

Result<std::string> JsonToRaw(const json& values, std::string_view datatype, int64_t count) {
  if (!ElementBytes(datatype)) return InvalidArgument("unknown datatype " + std::string(datatype));
  std::vector<const json*> flat;
  Flatten(values, flat);
  if (static_cast<int64_t>(flat.size()) != count) {
    return InvalidArgument(std::to_string(flat.size()) + " values where the shape needs " +
                           std::to_string(count));
  }
  std::string out;
  for (size_t i = 0; i < flat.size(); ++i) {
    if (!AppendElement(*flat[i], datatype, out)) {
      return InvalidArgument("value " + std::to_string(i) + " (" + flat[i]->dump() +
                             ") is not a valid " + std::string(datatype));
    }
  }
  return out;
}

Result<json> RawToJson(const TensorData& t) {
  const std::optional<size_t> width = ElementBytes(t.datatype);
  if (!width) return InvalidArgument("unknown datatype " + t.datatype);
  json out = json::array();
  if (*width == 0) {
    for (size_t at = 0; at < t.data.size();) {
      if (at + 4 > t.data.size()) return InvalidArgument("truncated BYTES element");
      const uint32_t n = Load<uint32_t>(t.data.data() + at);
      if (at + 4 + n > t.data.size()) return InvalidArgument("truncated BYTES element");
      out.push_back(t.data.substr(at + 4, n));
      at += 4 + n;
    }
    return out;
  }
  if (t.data.size() % *width != 0) return InvalidArgument("data is not whole elements");
  for (size_t at = 0; at < t.data.size(); at += *width) {
    out.push_back(ElementToJson(t.data.data() + at, t.datatype));
  }
  return out;
}

uint16_t FloatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xffu) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow: infinity
  if (exp <= 0) {                                               // subnormal or zero
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exp
  return static_cast<uint16_t>(half);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    const float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  const uint32_t bits = sign | (exp == 31 ? 0x7f800000u : (exp + 112) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float Bf16ToFloat(uint16_t bits) {
  const uint32_t x = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace modelgrid::perf
