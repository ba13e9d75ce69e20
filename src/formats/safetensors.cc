#include "formats/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

namespace modelgrid {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

Result<DType> SafetensorsDType(const std::string& s) {
  static const std::map<std::string, DType> kTypes = {
      {"F64", DType::kF64},   {"F32", DType::kF32},        {"F16", DType::kF16},
      {"BF16", DType::kBF16}, {"F8_E4M3", DType::kF8E4M3}, {"F8_E5M2", DType::kF8E5M2},
      {"I64", DType::kI64},   {"I32", DType::kI32},        {"I16", DType::kI16},
      {"I8", DType::kI8},     {"U64", DType::kU64},        {"U32", DType::kU32},
      {"U16", DType::kU16},   {"U8", DType::kU8},          {"BOOL", DType::kBool},
      {"C64", DType::kC64}};
  auto it = kTypes.find(s);
  if (it == kTypes.end()) return Unsupported("unknown safetensors dtype '" + s + "'");
  return it->second;
}

Result<TensorInfo> ParseEntry(const std::string& name, const nlohmann::json& entry,
                              uint64_t data_bytes, std::pair<uint64_t, uint64_t>* range) {
  if (!entry.is_object()) return CorruptData("tensor '" + name + "' is not an object");
  auto dtype_it = entry.find("dtype");
  auto shape_it = entry.find("shape");
  auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string() || shape_it == entry.end() ||
      !shape_it->is_array() || offsets_it == entry.end() || !offsets_it->is_array() ||
      offsets_it->size() != 2) {
    return CorruptData("tensor '" + name + "' lacks dtype, shape or data_offsets");
  }
  TensorInfo t;
  t.name = name;
  MG_ASSIGN_OR_RETURN(t.dtype, SafetensorsDType(dtype_it->get<std::string>()));
  if (shape_it->size() > 64) return CorruptData("tensor '" + name + "' has over 64 dims");
  for (const auto& d : *shape_it) {
    if (!d.is_number_integer()) return CorruptData("tensor '" + name + "' has a bad dim");
    t.shape.push_back(d.get<int64_t>());
  }
  MG_ASSIGN_OR_RETURN(t.elements, ElementCount(t.shape));
  const auto& off = *offsets_it;
  if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    return CorruptData("tensor '" + name + "' has non-integer data_offsets");
  }
  uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  if (begin > end || end > data_bytes) {
    return CorruptData("tensor '" + name + "' data_offsets [" + std::to_string(begin) + ", " +
                       std::to_string(end) + ") fall outside the " + std::to_string(data_bytes) +
                       "-byte data section");
  }
  const uint64_t expected = t.elements * DTypeSize(t.dtype);
  if (end - begin != expected) {
    return CorruptData("tensor '" + name + "' spans " + std::to_string(end - begin) +
                       " bytes but its dtype and shape need " + std::to_string(expected));
  }
  t.bytes = expected;
  *range = {begin, end};
  return t;
}

}  // namespace

Result<SafetensorsFile> ParseSafetensors(const ByteReader& reader) {
  LeCursor cursor(reader, 0);
  auto n = cursor.ReadU64();
  if (!n.ok()) return CorruptData("file is shorter than the 8-byte safetensors header length");
  const uint64_t header_bytes = *n;
  if (header_bytes > kMaxHeaderBytes) {
    return CorruptData("header length " + std::to_string(header_bytes) +
                       " exceeds the 100 MiB limit");
  }
  if (!reader.Contains(8, header_bytes)) {
    return CorruptData("header length " + std::to_string(header_bytes) + " exceeds the " +
                       std::to_string(reader.size()) + "-byte file");
  }
  MG_ASSIGN_OR_RETURN(std::string text,
                      reader.ReadString(8, header_bytes, "safetensors header", kMaxHeaderBytes));
  nlohmann::json header = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return CorruptData("safetensors header is not a JSON object");
  }
  SafetensorsFile file;
  file.header_bytes = header_bytes;
  file.data_bytes = reader.size() - 8 - header_bytes;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    std::pair<uint64_t, uint64_t> range;
    MG_ASSIGN_OR_RETURN(TensorInfo t, ParseEntry(it.key(), it.value(), file.data_bytes, &range));
    file.tensors.push_back(std::move(t));
    if (range.second > range.first) ranges.push_back(range);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      return CorruptData("two tensors overlap at data offset " + std::to_string(ranges[i].first));
    }
  }
  return file;
}

Result<SafetensorsFile> ParseSafetensorsFile(const std::string& path) {
  MG_ASSIGN_OR_RETURN(auto reader, FileByteReader::Open(path));
  auto parsed = ParseSafetensors(*reader);
  if (!parsed.ok()) return parsed.status().WithContext(path);
  return parsed;
}

}  // namespace modelgrid
