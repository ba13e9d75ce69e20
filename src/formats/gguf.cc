#include "formats/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

namespace modelgrid {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
constexpr uint64_t kMaxKvPairs = uint64_t{1} << 20;
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 20;
constexpr uint32_t kMaxDims = 8;
constexpr uint64_t kMaxKeptArrayItems = 64;
constexpr uint64_t kMaxScannedIntArray = 4096;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
// Smallest encodings, used to refuse counts that cannot fit in the remaining bytes before
// anything is reserved: a kv pair is key length (8) + value type (4) + a u8 value (1); a
// tensor info is name length (8) + n_dims (4) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 13;
constexpr uint64_t kMinTensorInfoBytes = 24;

// GGUF metadata value types.
enum ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Bytes of a fixed-size value type; 0 for string, array and unknown types.
uint32_t FixedValueSize(uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
      return 8;
    default:
      return 0;
  }
}

bool IsIntegerType(uint32_t type) {
  return type == kU8 || type == kI8 || type == kU16 || type == kI16 || type == kU32 ||
         type == kI32 || type == kU64 || type == kI64;
}

// Block layout of a ggml type (ggml/src/ggml.c type_traits). block_elements == 0 marks an
// id that was removed from GGUF files (Q4_2, Q4_3, the Q4_0_x_y / IQ4_NL_x_y repacks).
struct GgmlLayout {
  const char* name;
  uint32_t block_elements;
  uint32_t block_bytes;
  DType dtype;
};

constexpr DType kQ = DType::kBlockQuantized;
constexpr GgmlLayout kGgmlLayouts[] = {
    {"F32", 1, 4, DType::kF32},    // 0
    {"F16", 1, 2, DType::kF16},    // 1
    {"Q4_0", 32, 18, kQ},          // 2
    {"Q4_1", 32, 20, kQ},          // 3
    {"Q4_2", 0, 0, kQ},            // 4 (removed)
    {"Q4_3", 0, 0, kQ},            // 5 (removed)
    {"Q5_0", 32, 22, kQ},          // 6
    {"Q5_1", 32, 24, kQ},          // 7
    {"Q8_0", 32, 34, kQ},          // 8
    {"Q8_1", 32, 36, kQ},          // 9
    {"Q2_K", 256, 84, kQ},         // 10
    {"Q3_K", 256, 110, kQ},        // 11
    {"Q4_K", 256, 144, kQ},        // 12
    {"Q5_K", 256, 176, kQ},        // 13
    {"Q6_K", 256, 210, kQ},        // 14
    {"Q8_K", 256, 292, kQ},        // 15
    {"IQ2_XXS", 256, 66, kQ},      // 16
    {"IQ2_XS", 256, 74, kQ},       // 17
    {"IQ3_XXS", 256, 98, kQ},      // 18
    {"IQ1_S", 256, 50, kQ},        // 19
    {"IQ4_NL", 32, 18, kQ},        // 20
    {"IQ3_S", 256, 110, kQ},       // 21
    {"IQ2_S", 256, 82, kQ},        // 22
    {"IQ4_XS", 256, 136, kQ},      // 23
    {"I8", 1, 1, DType::kI8},      // 24
    {"I16", 1, 2, DType::kI16},    // 25
    {"I32", 1, 4, DType::kI32},    // 26
    {"I64", 1, 8, DType::kI64},    // 27
    {"F64", 1, 8, DType::kF64},    // 28
    {"IQ1_M", 256, 56, kQ},        // 29
    {"BF16", 1, 2, DType::kBF16},  // 30
    {"Q4_0_4_4", 0, 0, kQ},        // 31 (removed)
    {"Q4_0_4_8", 0, 0, kQ},        // 32 (removed)
    {"Q4_0_8_8", 0, 0, kQ},        // 33 (removed)
    {"TQ1_0", 256, 54, kQ},        // 34
    {"TQ2_0", 256, 66, kQ},        // 35
    {"IQ4_NL_4_4", 0, 0, kQ},      // 36 (removed)
    {"IQ4_NL_4_8", 0, 0, kQ},      // 37 (removed)
    {"IQ4_NL_8_8", 0, 0, kQ},      // 38 (removed)
    {"MXFP4", 32, 17, kQ},         // 39
};
constexpr uint32_t kGgmlTypeCount = sizeof(kGgmlLayouts) / sizeof(kGgmlLayouts[0]);

// A little-endian cursor that reads through a 64 KiB window so that walking a vocabulary
// of 10^5 strings costs a few reads, not one pread per token. Bounds-checked like
// LeCursor: every read past reader.size() fails with kCorruptData.
class WindowCursor {
 public:
  WindowCursor(const ByteReader& reader, uint64_t offset)
      : reader_(reader), offset_(std::min(offset, reader.size())) {}

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return reader_.size() - offset_; }

  Status Read(void* out, uint64_t length) {
    if (length > remaining()) return Truncated(length);
    if (length > kWindowBytes) {
      MG_RETURN_IF_ERROR(reader_.ReadAt(offset_, length, out));
    } else {
      if (offset_ < window_start_ || offset_ + length > window_start_ + window_.size()) {
        window_.resize(std::min<uint64_t>(kWindowBytes, remaining()));
        MG_RETURN_IF_ERROR(reader_.ReadAt(offset_, window_.size(), window_.data()));
        window_start_ = offset_;
      }
      if (length > 0) std::memcpy(out, window_.data() + (offset_ - window_start_), length);
    }
    offset_ += length;
    return Status::Ok();
  }

  Status Skip(uint64_t length) {
    if (length > remaining()) return Truncated(length);
    offset_ += length;
    return Status::Ok();
  }

  template <typename T>
  Result<T> ReadLe() {
    uint8_t b[sizeof(T)];
    MG_RETURN_IF_ERROR(Read(b, sizeof(T)));
    uint64_t v = 0;
    for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) v = (v << 8) | b[i];
    return static_cast<T>(v);
  }

  // A GGUF string: u64 length then bytes, refused above 1 MiB.
  Result<std::string> ReadString() {
    MG_ASSIGN_OR_RETURN(uint64_t length, ReadLe<uint64_t>());
    if (length > kMaxStringBytes) {
      return CorruptData("string at offset " + std::to_string(offset_ - 8) + " claims " +
                         std::to_string(length) + " bytes, more than the 1 MiB limit");
    }
    if (length > remaining()) return Truncated(length);
    std::string s(length, '\0');
    MG_RETURN_IF_ERROR(Read(s.data(), length));
    return s;
  }

  // Skips a GGUF string, enforcing the same limits as ReadString.
  Status SkipString() {
    MG_ASSIGN_OR_RETURN(uint64_t length, ReadLe<uint64_t>());
    if (length > kMaxStringBytes) {
      return CorruptData("string at offset " + std::to_string(offset_ - 8) + " claims " +
                         std::to_string(length) + " bytes, more than the 1 MiB limit");
    }
    return Skip(length);
  }

 private:
  static constexpr uint64_t kWindowBytes = 64 * 1024;

  Status Truncated(uint64_t length) const {
    return CorruptData("truncated: need " + std::to_string(length) + " bytes at offset " +
                       std::to_string(offset_) + " of a " + std::to_string(reader_.size()) +
                       "-byte file");
  }

  const ByteReader& reader_;
  uint64_t offset_;
  uint64_t window_start_ = 0;
  std::vector<uint8_t> window_;
};

// Decodes one fixed-size little-endian value of `type` from `p`.
GgufScalar DecodeFixed(uint32_t type, const uint8_t* p) {
  uint64_t raw = 0;
  const uint32_t size = FixedValueSize(type);
  for (int i = static_cast<int>(size) - 1; i >= 0; --i) raw = (raw << 8) | p[i];
  switch (type) {
    case kI8:
      return int64_t{static_cast<int8_t>(raw)};
    case kI16:
      return int64_t{static_cast<int16_t>(raw)};
    case kI32:
      return int64_t{static_cast<int32_t>(raw)};
    case kI64:
      return static_cast<int64_t>(raw);
    case kBool:
      return raw != 0;
    case kF32: {
      float f;
      uint32_t bits = static_cast<uint32_t>(raw);
      std::memcpy(&f, &bits, 4);
      return double{f};
    }
    case kF64: {
      double d;
      std::memcpy(&d, &raw, 8);
      return d;
    }
    default:
      return raw;  // the unsigned types
  }
}

int64_t ClampToI64(const GgufScalar& v) {
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    return static_cast<int64_t>(std::min<uint64_t>(*u, std::numeric_limits<int64_t>::max()));
  }
  return std::get<int64_t>(v);
}

// Reads an array value (element type, length, elements) into `value`.
Status ReadArray(WindowCursor& cur, GgufValue& value) {
  MG_ASSIGN_OR_RETURN(uint32_t elem_type, cur.ReadLe<uint32_t>());
  MG_ASSIGN_OR_RETURN(uint64_t length, cur.ReadLe<uint64_t>());
  value.is_array = true;
  value.array_length = length;
  if (elem_type == kArray) return Unsupported("nested GGUF arrays are not supported");
  if (elem_type == kString) {
    // Every string takes at least its 8-byte length.
    if (length > cur.remaining() / 8) {
      return CorruptData("string array of " + std::to_string(length) +
                         " elements cannot fit in the remaining " +
                         std::to_string(cur.remaining()) + " bytes");
    }
    value.items.reserve(std::min(length, kMaxKeptArrayItems));
    for (uint64_t i = 0; i < length; ++i) {
      if (i < kMaxKeptArrayItems) {
        MG_ASSIGN_OR_RETURN(std::string s, cur.ReadString());
        value.items.emplace_back(std::move(s));
      } else {
        MG_RETURN_IF_ERROR(cur.SkipString());
      }
    }
    return Status::Ok();
  }
  const uint64_t elem_size = FixedValueSize(elem_type);
  if (elem_size == 0) {
    return CorruptData("array has unknown element type " + std::to_string(elem_type));
  }
  if (length > cur.remaining() / elem_size) {
    return CorruptData("array of " + std::to_string(length) + " " + std::to_string(elem_size) +
                       "-byte elements cannot fit in the remaining " +
                       std::to_string(cur.remaining()) + " bytes");
  }
  // Read the kept prefix, or the whole array when it is a short integer array to scan.
  const bool scan = IsIntegerType(elem_type) && length <= kMaxScannedIntArray;
  const uint64_t read_count = scan ? length : std::min(length, kMaxKeptArrayItems);
  std::vector<uint8_t> bytes(read_count * elem_size);
  MG_RETURN_IF_ERROR(cur.Read(bytes.data(), bytes.size()));
  MG_RETURN_IF_ERROR(cur.Skip((length - read_count) * elem_size));
  value.items.reserve(std::min(read_count, kMaxKeptArrayItems));
  for (uint64_t i = 0; i < read_count; ++i) {
    GgufScalar v = DecodeFixed(elem_type, bytes.data() + i * elem_size);
    if (scan) {
      const int64_t n = ClampToI64(v);
      value.int_max = value.int_max ? std::max(*value.int_max, n) : n;
    }
    if (i < kMaxKeptArrayItems) value.items.push_back(std::move(v));
  }
  return Status::Ok();
}

Result<GgufValue> ReadValue(WindowCursor& cur, uint32_t type) {
  GgufValue value;
  if (type == kString) {
    MG_ASSIGN_OR_RETURN(std::string s, cur.ReadString());
    value.scalar = std::move(s);
  } else if (type == kArray) {
    MG_RETURN_IF_ERROR(ReadArray(cur, value));
  } else if (uint32_t size = FixedValueSize(type); size > 0) {
    uint8_t b[8];
    MG_RETURN_IF_ERROR(cur.Read(b, size));
    value.scalar = DecodeFixed(type, b);
  } else {
    return CorruptData("unknown metadata value type " + std::to_string(type));
  }
  return value;
}

Status ReadMetadata(WindowCursor& cur, uint64_t kv_count, GgufFile& file) {
  for (uint64_t i = 0; i < kv_count; ++i) {
    const uint64_t start = cur.offset();
    auto context = [&] {
      return "kv pair " + std::to_string(i) + " at offset " + std::to_string(start);
    };
    auto key = cur.ReadString();
    if (!key.ok()) return key.status().WithContext(context());
    auto type = cur.ReadLe<uint32_t>();
    if (!type.ok()) return type.status().WithContext(context() + " ('" + *key + "')");
    auto value = ReadValue(cur, *type);
    if (!value.ok()) return value.status().WithContext(context() + " ('" + *key + "')");
    if (!file.metadata.emplace(std::move(*key), std::move(*value)).second) {
      return CorruptData(context() + ": duplicate key");
    }
  }
  return Status::Ok();
}

// Applies `general.alignment`: an unsigned integer, a power of two, at most 1 GiB.
Status ReadAlignment(GgufFile& file) {
  auto it = file.metadata.find("general.alignment");
  if (it == file.metadata.end()) return Status::Ok();
  const auto* v = std::get_if<uint64_t>(&it->second.scalar);
  if (it->second.is_array || v == nullptr) {
    return CorruptData("general.alignment is not an unsigned integer");
  }
  if (*v == 0 || (*v & (*v - 1)) != 0 || *v > kMaxAlignment) {
    return CorruptData("general.alignment " + std::to_string(*v) +
                       " is not a power of two up to 1 GiB");
  }
  file.alignment = *v;
  return Status::Ok();
}

// Reads one tensor info, returning its relative data offset through `offset`.
Status ReadTensorInfo(WindowCursor& cur, const GgufFile& file, TensorInfo& info,
                      uint32_t& ggml_type, uint64_t& offset) {
  MG_ASSIGN_OR_RETURN(info.name, cur.ReadString());
  MG_ASSIGN_OR_RETURN(uint32_t n_dims, cur.ReadLe<uint32_t>());
  if (n_dims > kMaxDims) {
    return CorruptData(std::to_string(n_dims) + " dimensions, more than " +
                       std::to_string(kMaxDims));
  }
  uint64_t ne[kMaxDims] = {};
  for (uint32_t d = 0; d < n_dims; ++d) {
    MG_ASSIGN_OR_RETURN(ne[d], cur.ReadLe<uint64_t>());
    if (ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return CorruptData("dimension " + std::to_string(ne[d]) + " is negative as int64");
    }
  }
  MG_ASSIGN_OR_RETURN(ggml_type, cur.ReadLe<uint32_t>());
  MG_ASSIGN_OR_RETURN(offset, cur.ReadLe<uint64_t>());

  if (ggml_type >= kGgmlTypeCount || kGgmlLayouts[ggml_type].block_elements == 0) {
    return Unsupported("ggml type " + GgmlTypeName(ggml_type) +
                       (ggml_type < kGgmlTypeCount ? " was removed from GGUF" : " is unknown"));
  }
  const GgmlLayout& layout = kGgmlLayouts[ggml_type];
  info.dtype = layout.dtype;
  info.shape.assign(n_dims, 0);
  for (uint32_t d = 0; d < n_dims; ++d) info.shape[n_dims - 1 - d] = static_cast<int64_t>(ne[d]);
  MG_ASSIGN_OR_RETURN(info.elements, ElementCount(info.shape));
  if (n_dims > 0 && ne[0] % layout.block_elements != 0) {
    return CorruptData("first dimension " + std::to_string(ne[0]) + " of a " + layout.name +
                       " tensor is not a multiple of its block size " +
                       std::to_string(layout.block_elements));
  }
  if (n_dims == 0 && layout.block_elements != 1) {
    return CorruptData(std::string("a scalar cannot be stored as ") + layout.name);
  }
  // elements <= 2^53 and block_bytes < 2^9, so this cannot overflow.
  info.bytes = info.elements / layout.block_elements * layout.block_bytes;
  if (offset % file.alignment != 0) {
    return CorruptData("data offset " + std::to_string(offset) + " is not a multiple of the " +
                       std::to_string(file.alignment) + "-byte alignment");
  }
  return Status::Ok();
}

Status ReadTensorInfos(WindowCursor& cur, uint64_t tensor_count, GgufFile& file,
                       std::vector<uint64_t>& offsets) {
  file.tensors.reserve(tensor_count);
  file.ggml_types.reserve(tensor_count);
  offsets.reserve(tensor_count);
  std::set<std::string_view> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    const uint64_t start = cur.offset();
    TensorInfo info;
    uint32_t ggml_type = 0;
    uint64_t offset = 0;
    Status s = ReadTensorInfo(cur, file, info, ggml_type, offset);
    if (!s.ok()) {
      return s.WithContext("tensor info " + std::to_string(i) + " at offset " +
                           std::to_string(start) +
                           (info.name.empty() ? std::string() : " ('" + info.name + "')"));
    }
    file.tensors.push_back(std::move(info));
    file.ggml_types.push_back(ggml_type);
    offsets.push_back(offset);
  }
  // Views into file.tensors stay valid: the vector no longer grows.
  for (const TensorInfo& t : file.tensors) {
    if (!names.insert(t.name).second) return CorruptData("duplicate tensor name '" + t.name + "'");
  }
  return Status::Ok();
}

Status CheckTensorRanges(const ByteReader& reader, const GgufFile& file,
                         const std::vector<uint64_t>& offsets) {
  const uint64_t size = reader.size();
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const TensorInfo& t = file.tensors[i];
    // Overflow-safe form of data_offset + offsets[i] + bytes <= size.
    const bool inside = file.data_offset <= size && offsets[i] <= size - file.data_offset &&
                        t.bytes <= size - file.data_offset - offsets[i];
    if (!inside) {
      return CorruptData("tensor '" + t.name + "' data [" + std::to_string(offsets[i]) + ", +" +
                         std::to_string(t.bytes) + ") after the data section at " +
                         std::to_string(file.data_offset) + " lies outside the " +
                         std::to_string(size) + "-byte file");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string GgmlTypeName(uint32_t ggml_type) {
  if (ggml_type < kGgmlTypeCount) return kGgmlLayouts[ggml_type].name;
  return "type" + std::to_string(ggml_type);
}

Result<GgufFile> ParseGguf(const ByteReader& reader) {
  WindowCursor cur(reader, 0);
  GgufFile file;
  MG_ASSIGN_OR_RETURN(uint32_t magic, cur.ReadLe<uint32_t>());
  if (magic != kGgufMagic) return CorruptData("not a GGUF file: bad magic");
  MG_ASSIGN_OR_RETURN(file.version, cur.ReadLe<uint32_t>());
  if (file.version == 1) {
    return Unsupported("GGUF version 1 (32-bit counts) is not supported; re-convert the model");
  }
  if (file.version != 2 && file.version != 3) {
    return Unsupported("GGUF version " + std::to_string(file.version) +
                       " is not supported (expected 2 or 3; a big-endian file reads as a "
                       "huge version)");
  }
  MG_ASSIGN_OR_RETURN(uint64_t tensor_count, cur.ReadLe<uint64_t>());
  MG_ASSIGN_OR_RETURN(uint64_t kv_count, cur.ReadLe<uint64_t>());
  if (tensor_count > kMaxTensors) {
    return CorruptData("tensor count " + std::to_string(tensor_count) + " exceeds 2^20");
  }
  if (kv_count > kMaxKvPairs) {
    return CorruptData("metadata count " + std::to_string(kv_count) + " exceeds 2^20");
  }
  if (kv_count * kMinKvBytes + tensor_count * kMinTensorInfoBytes > cur.remaining()) {
    return CorruptData(std::to_string(kv_count) + " kv pairs and " + std::to_string(tensor_count) +
                       " tensor infos cannot fit in the " + std::to_string(cur.remaining()) +
                       " remaining bytes");
  }
  MG_RETURN_IF_ERROR(ReadMetadata(cur, kv_count, file));
  MG_RETURN_IF_ERROR(ReadAlignment(file));
  std::vector<uint64_t> offsets;
  MG_RETURN_IF_ERROR(ReadTensorInfos(cur, tensor_count, file, offsets));
  // cur.offset() <= size and alignment <= 2^30, so rounding up cannot overflow.
  file.data_offset = (cur.offset() + file.alignment - 1) / file.alignment * file.alignment;
  MG_RETURN_IF_ERROR(CheckTensorRanges(reader, file, offsets));
  return file;
}

namespace {

// An integer metadata value: a scalar, or the largest element of a short integer array.
std::optional<int64_t> GetInt(const GgufFile& file, const std::string& key) {
  auto it = file.metadata.find(key);
  if (it == file.metadata.end()) return std::nullopt;
  const GgufValue& v = it->second;
  if (v.is_array) return v.int_max;
  if (std::holds_alternative<uint64_t>(v.scalar) || std::holds_alternative<int64_t>(v.scalar)) {
    return ClampToI64(v.scalar);
  }
  return std::nullopt;
}

const TensorInfo* FindTensor(const GgufFile& file, std::string_view name) {
  for (const TensorInfo& t : file.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// Architectures whose llama.cpp graph is a bidirectional encoder without an LM head.
bool IsEncoderArch(std::string_view arch) {
  static constexpr std::string_view kEncoders[] = {
      "bert",    "nomic-bert",  "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
      "roberta", "xlm-roberta", "modern-bert",    "neo-bert",     "t5encoder"};
  return std::find(std::begin(kEncoders), std::end(kEncoders), arch) != std::end(kEncoders);
}

}  // namespace

std::optional<TransformerConfig> GgufTransformerConfig(const GgufFile& file) {
  auto arch_it = file.metadata.find("general.architecture");
  if (arch_it == file.metadata.end() || arch_it->second.is_array) return std::nullopt;
  const auto* arch = std::get_if<std::string>(&arch_it->second.scalar);
  if (arch == nullptr || arch->empty()) return std::nullopt;
  const std::string p = *arch + ".";

  TransformerConfig c;
  c.architecture = *arch;
  c.model_type = *arch;
  c.num_layers = GetInt(file, p + "block_count").value_or(0);
  c.hidden_size = GetInt(file, p + "embedding_length").value_or(0);
  c.num_heads = GetInt(file, p + "attention.head_count").value_or(0);
  if (c.num_layers <= 0 || c.hidden_size <= 0 || c.num_heads <= 0) return std::nullopt;
  c.num_kv_heads = GetInt(file, p + "attention.head_count_kv").value_or(c.num_heads);
  if (c.num_kv_heads <= 0) c.num_kv_heads = c.num_heads;
  c.head_dim = GetInt(file, p + "attention.key_length").value_or(c.hidden_size / c.num_heads);
  c.intermediate_size = GetInt(file, p + "feed_forward_length").value_or(0);
  c.max_positions = GetInt(file, p + "context_length").value_or(0);

  auto tokens = file.metadata.find("tokenizer.ggml.tokens");
  if (tokens != file.metadata.end() && tokens->second.is_array) {
    c.vocab_size = static_cast<int64_t>(
        std::min<uint64_t>(tokens->second.array_length, std::numeric_limits<int64_t>::max()));
  } else if (auto v = GetInt(file, p + "vocab_size")) {
    c.vocab_size = *v;
  } else if (const TensorInfo* embd = FindTensor(file, "token_embd.weight");
             embd != nullptr && embd->shape.size() == 2) {
    c.vocab_size = embd->shape[0];  // row-major {n_vocab, n_embd}
  }

  c.gated_mlp = FindTensor(file, "blk.0.ffn_gate.weight") != nullptr ||
                FindTensor(file, "blk.0.ffn_gate_exps.weight") != nullptr;
  c.kind = IsEncoderArch(*arch) ? TransformerKind::kEncoder : TransformerKind::kDecoder;
  c.has_lm_head = c.kind == TransformerKind::kDecoder;
  return c;
}

}  // namespace modelgrid
