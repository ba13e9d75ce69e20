// TensorProto: header fields, data length checks, external data, small values.
#include <charconv>
#include <cstring>
#include <filesystem>

#include "formats/onnx_internal.h"

namespace modelgrid::onnx_internal {

using pb::Field;
using pb::MessageReader;
using pb::WireType;

Status Expect(const Field& f, WireType type, const char* what) {
  if (f.type != type) {
    return CorruptData(std::string(what) + ": field " + std::to_string(f.number) +
                       " has wire type " + std::to_string(static_cast<int>(f.type)));
  }
  return Status::Ok();
}

DType DTypeFromOnnx(int64_t t, bool* nibbles) {
  *nibbles = false;
  switch (t) {
    case 1:
      return DType::kF32;
    case 2:
      return DType::kU8;
    case 3:
      return DType::kI8;
    case 4:
      return DType::kU16;
    case 5:
      return DType::kI16;
    case 6:
      return DType::kI32;
    case 7:
      return DType::kI64;
    case 9:
      return DType::kBool;
    case 10:
      return DType::kF16;
    case 11:
      return DType::kF64;
    case 12:
      return DType::kU32;
    case 13:
      return DType::kU64;
    case 14:
      return DType::kC64;
    case 15:
      return DType::kC128;
    case 16:
      return DType::kBF16;
    case 17:
    case 18:
      return DType::kF8E4M3;
    case 19:
    case 20:
      return DType::kF8E5M2;
    case 21:
    case 22:
      *nibbles = true;
      return DType::kUnknown;
    default:
      return DType::kUnknown;  // 0 undefined, 8 string, future types
  }
}

static Status ParseStringEntry(MessageReader msg, std::pair<std::string, std::string>* out) {
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    if (f.number == 1 || f.number == 2) {
      MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "StringStringEntryProto"));
      MG_ASSIGN_OR_RETURN(std::string s, msg.String(f, kMaxStringBytes));
      (f.number == 1 ? out->first : out->second) = std::move(s);
    }
  }
  return Status::Ok();
}

Result<ParsedTensor> ParseTensor(MessageReader msg) {
  ParsedTensor t;
  bool too_many_int64s = false, too_many_floats = false;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    switch (f.number) {
      case 1:  // dims
        MG_RETURN_IF_ERROR(msg.AppendVarints(f, &t.info.shape, kMaxDims));
        break;
      case 2:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "TensorProto.data_type"));
        t.onnx_type = static_cast<int64_t>(f.value);
        break;
      case 4:     // float_data
      case 10: {  // double_data
        WireType et = f.number == 4 ? WireType::kFixed32 : WireType::kFixed64;
        MG_ASSIGN_OR_RETURN(uint64_t n, msg.CountValues(f, et));
        t.typed_count += n;
        if (f.number == 4 && !too_many_floats && t.floats.size() + n <= kMaxSmallValues) {
          MG_RETURN_IF_ERROR(msg.AppendFloats(f, &t.floats, kMaxSmallValues));
        } else {
          too_many_floats = true;
        }
        break;
      }
      case 5:     // int32_data
      case 11: {  // uint64_data
        MG_ASSIGN_OR_RETURN(uint64_t n, msg.CountValues(f, WireType::kVarint));
        t.typed_count += n;
        break;
      }
      case 6:  // string_data: one string per element
        MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "TensorProto.string_data"));
        t.typed_count += 1;
        t.info.bytes += f.length;
        break;
      case 7: {  // int64_data
        MG_ASSIGN_OR_RETURN(uint64_t n, msg.CountValues(f, WireType::kVarint));
        t.typed_count += n;
        if (!too_many_int64s && t.int64s.size() + n <= kMaxSmallValues) {
          MG_RETURN_IF_ERROR(msg.AppendVarints(f, &t.int64s, kMaxSmallValues));
        } else {
          too_many_int64s = true;
        }
        break;
      }
      case 8: {
        MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "TensorProto.name"));
        MG_ASSIGN_OR_RETURN(t.info.name, msg.String(f, kMaxStringBytes));
        break;
      }
      case 9:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "TensorProto.raw_data"));
        t.has_raw = true;
        t.raw_offset = f.offset;
        t.raw_length = f.length;
        break;
      case 13: {
        MG_ASSIGN_OR_RETURN(MessageReader sub, msg.Sub(f));
        if (t.external.size() >= 16) return CorruptData("too many external_data entries");
        t.external.emplace_back();
        MG_RETURN_IF_ERROR(ParseStringEntry(sub, &t.external.back()));
        break;
      }
      case 14:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "TensorProto.data_location"));
        t.data_location = static_cast<int64_t>(f.value);
        break;
      default:
        break;  // segment, doc_string, metadata: not needed
    }
  }
  if (too_many_int64s) t.int64s.clear();
  if (too_many_floats) t.floats.clear();
  MG_ASSIGN_OR_RETURN(t.info.elements, ElementCount(t.info.shape));
  t.info.dtype = DTypeFromOnnx(t.onnx_type, &t.nibbles);
  return t;
}

static Result<uint64_t> ParseDecimal(const std::string& text, const char* what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return CorruptData(std::string("external data ") + what + " is not a number: " + text);
  }
  return v;
}

// Checks that an external data location stays inside base_dir and returns the file size.
static Result<uint64_t> ExternalFileSize(const std::string& base_dir, const std::string& location,
                                         std::map<std::string, uint64_t>* cache) {
  if (location.empty()) return CorruptData("external data has an empty location");
  if (location.find('\0') != std::string::npos || location[0] == '/' || location[0] == '\\') {
    return CorruptData("external data location must be relative: " + location);
  }
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0 && end - start == 2) {
      return CorruptData("external data location leaves the model folder: " + location);
    }
    start = end + 1;
  }
  if (auto it = cache->find(location); it != cache->end()) return it->second;
  std::filesystem::path path = std::filesystem::path(base_dir) / location;
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return NotFound("external data file not found: " + path.string());
  }
  if (!std::filesystem::is_regular_file(st)) {
    return CorruptData("external data is not a regular file: " + path.string());
  }
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound("cannot stat external data file " + path.string());
  if (cache->size() < 4096) cache->emplace(location, size);
  return size;
}

Status FinishTensor(ParsedTensor* t, ParseContext* ctx) {
  TensorInfo& info = t->info;
  uint32_t size = DTypeSize(info.dtype);
  if (size != 0) {
    info.bytes = info.elements * size;  // elements <= 2^53, size <= 16: no overflow
  } else if (t->nibbles) {
    info.bytes = (info.elements + 1) / 2;
  }  // strings: bytes were summed from string_data
  bool typed = info.dtype != DType::kUnknown || t->nibbles;
  bool external = t->data_location == 1 || !t->external.empty();
  if (external) {
    std::string location;
    uint64_t offset = 0, length = info.bytes;
    bool has_length = false;
    for (const auto& [key, value] : t->external) {
      if (key == "location") location = value;
      if (key == "offset") {
        MG_ASSIGN_OR_RETURN(offset, ParseDecimal(value, "offset"));
      }
      if (key == "length") {
        MG_ASSIGN_OR_RETURN(length, ParseDecimal(value, "length"));
        has_length = true;
      }
    }
    if (has_length && typed && length != info.bytes) {
      return CorruptData("tensor " + info.name + ": external length " + std::to_string(length) +
                         " disagrees with its shape (" + std::to_string(info.bytes) + " bytes)");
    }
    MG_ASSIGN_OR_RETURN(uint64_t file_size,
                        ExternalFileSize(ctx->base_dir, location, &ctx->external_sizes));
    if (offset > file_size || length > file_size - offset) {
      return CorruptData("tensor " + info.name + ": external range [" + std::to_string(offset) +
                         ", +" + std::to_string(length) + ") exceeds " + location + " (" +
                         std::to_string(file_size) + " bytes)");
    }
    return Status::Ok();
  }
  if (t->has_raw && typed && t->raw_length != info.bytes) {
    return CorruptData("tensor " + info.name + ": raw_data has " + std::to_string(t->raw_length) +
                       " bytes but its shape needs " + std::to_string(info.bytes));
  }
  if (!t->has_raw && t->typed_count != 0 && info.dtype != DType::kUnknown) {
    uint64_t want =
        info.elements * (info.dtype == DType::kC64 || info.dtype == DType::kC128 ? 2 : 1);
    if (t->typed_count != want) {
      return CorruptData("tensor " + info.name + " stores " + std::to_string(t->typed_count) +
                         " values for " + std::to_string(info.elements) + " elements");
    }
  }
  // Small shape-carrying values, read only when stored inline.
  if (info.elements > kMaxSmallValues) {
    t->int64s.clear();
    t->floats.clear();
    return Status::Ok();
  }
  if (t->has_raw &&
      (info.dtype == DType::kI64 || info.dtype == DType::kF32 || info.dtype == DType::kF64)) {
    uint8_t buf[kMaxSmallValues * 8];
    MG_RETURN_IF_ERROR(ctx->reader->ReadAt(t->raw_offset, t->raw_length, buf));
    t->int64s.clear();
    t->floats.clear();
    for (uint64_t i = 0; i < info.elements; ++i) {
      if (info.dtype == DType::kF32) {
        float v;
        std::memcpy(&v, buf + 4 * i, 4);
        t->floats.push_back(v);
      } else {
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits |= static_cast<uint64_t>(buf[8 * i + k]) << (8 * k);
        if (info.dtype == DType::kI64) {
          t->int64s.push_back(static_cast<int64_t>(bits));
        } else {
          double v;
          std::memcpy(&v, &bits, 8);
          t->floats.push_back(v);
        }
      }
    }
  }
  if (info.dtype != DType::kI64 || t->int64s.size() != info.elements) t->int64s.clear();
  if (t->floats.size() != info.elements) t->floats.clear();
  return Status::Ok();
}

}  // namespace modelgrid::onnx_internal

namespace modelgrid {

DType DTypeFromOnnxCode(int64_t code) {
  bool nibbles = false;
  return onnx_internal::DTypeFromOnnx(code, &nibbles);
}

}  // namespace modelgrid
