// GgufBuilder: builds GGUF v2/v3 byte images in memory for tests, fuzz seeds and benchmarks.
//
// Header-only, no dependency on the parser under test: the ggml block layouts below are an
// independent copy of ggml's type_traits so that tests cross-check the parser's table.
// WriteSparse() writes only the header and extends the file with ftruncate, so a
// multi-gigabyte model file costs a few kilobytes of disk and no time.
//
//   GgufBuilder b;                                 // version 3, alignment 32
//   b.String("general.architecture", "llama").U32("llama.block_count", 2);
//   b.Tensor("token_embd.weight", {4096, 32000}, kGgmlQ4_K);   // ggml order: ne[0] first
//   std::string bytes = b.Build();
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace modelgrid::testutil {

// GGUF metadata value types.
enum GgufValueType : uint32_t {
  kGgufU8 = 0,
  kGgufI8 = 1,
  kGgufU16 = 2,
  kGgufI16 = 3,
  kGgufU32 = 4,
  kGgufI32 = 5,
  kGgufF32 = 6,
  kGgufBool = 7,
  kGgufString = 8,
  kGgufArray = 9,
  kGgufU64 = 10,
  kGgufI64 = 11,
  kGgufF64 = 12,
};

// ggml tensor types (ggml.h).
enum GgmlType : uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ8_1 = 9,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlQ8_K = 15,
  kGgmlIQ2_XXS = 16,
  kGgmlIQ2_XS = 17,
  kGgmlIQ3_XXS = 18,
  kGgmlIQ1_S = 19,
  kGgmlIQ4_NL = 20,
  kGgmlIQ3_S = 21,
  kGgmlIQ2_S = 22,
  kGgmlIQ4_XS = 23,
  kGgmlI8 = 24,
  kGgmlI16 = 25,
  kGgmlI32 = 26,
  kGgmlI64 = 27,
  kGgmlF64 = 28,
  kGgmlIQ1_M = 29,
  kGgmlBF16 = 30,
  kGgmlTQ1_0 = 34,
  kGgmlTQ2_0 = 35,
  kGgmlMXFP4 = 39,
};

struct GgmlBlock {
  uint64_t elements = 0;  // 0: not a type this table knows
  uint64_t bytes = 0;
};

// Elements and bytes per block, from the block_* structs in ggml-common.h.
inline GgmlBlock GgmlBlockOf(uint32_t type) {
  switch (type) {
    case kGgmlF32:
      return {1, 4};
    case kGgmlF16:
      return {1, 2};
    case kGgmlQ4_0:
      return {32, 2 + 16};
    case kGgmlQ4_1:
      return {32, 4 + 16};
    case kGgmlQ5_0:
      return {32, 2 + 4 + 16};
    case kGgmlQ5_1:
      return {32, 4 + 4 + 16};
    case kGgmlQ8_0:
      return {32, 2 + 32};
    case kGgmlQ8_1:
      return {32, 4 + 32};
    case kGgmlQ2_K:
      return {256, 16 + 64 + 4};
    case kGgmlQ3_K:
      return {256, 32 + 64 + 12 + 2};
    case kGgmlQ4_K:
      return {256, 4 + 12 + 128};
    case kGgmlQ5_K:
      return {256, 4 + 12 + 32 + 128};
    case kGgmlQ6_K:
      return {256, 128 + 64 + 16 + 2};
    case kGgmlQ8_K:
      return {256, 4 + 256 + 32};
    case kGgmlIQ2_XXS:
      return {256, 2 + 64};
    case kGgmlIQ2_XS:
      return {256, 2 + 64 + 8};
    case kGgmlIQ3_XXS:
      return {256, 2 + 96};
    case kGgmlIQ1_S:
      return {256, 2 + 32 + 16};
    case kGgmlIQ4_NL:
      return {32, 2 + 16};
    case kGgmlIQ3_S:
      return {256, 2 + 64 + 8 + 32 + 4};
    case kGgmlIQ2_S:
      return {256, 2 + 64 + 8 + 8};
    case kGgmlIQ4_XS:
      return {256, 2 + 2 + 4 + 128};
    case kGgmlI8:
      return {1, 1};
    case kGgmlI16:
      return {1, 2};
    case kGgmlI32:
      return {1, 4};
    case kGgmlI64:
      return {1, 8};
    case kGgmlF64:
      return {1, 8};
    case kGgmlIQ1_M:
      return {256, 32 + 16 + 8};
    case kGgmlBF16:
      return {1, 2};
    case kGgmlTQ1_0:
      return {256, 48 + 4 + 2};
    case kGgmlTQ2_0:
      return {256, 64 + 2};
    case kGgmlMXFP4:
      return {32, 1 + 16};
    default:
      return {};
  }
}

// Bytes of a tensor with ggml dims `ne`, or 0 for a type GgmlBlockOf does not know.
inline uint64_t GgmlTensorBytes(const std::vector<uint64_t>& ne, uint32_t type) {
  GgmlBlock block = GgmlBlockOf(type);
  if (block.elements == 0) return 0;
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;
  return n / block.elements * block.bytes;
}

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}

  // ---- metadata (appended in call order) ----
  GgufBuilder& U8(const std::string& k, uint8_t v) { return Fixed(k, kGgufU8, v, 1); }
  GgufBuilder& I8(const std::string& k, int8_t v) { return Fixed(k, kGgufI8, v, 1); }
  GgufBuilder& U16(const std::string& k, uint16_t v) { return Fixed(k, kGgufU16, v, 2); }
  GgufBuilder& I16(const std::string& k, int16_t v) { return Fixed(k, kGgufI16, v, 2); }
  GgufBuilder& U32(const std::string& k, uint32_t v) { return Fixed(k, kGgufU32, v, 4); }
  GgufBuilder& I32(const std::string& k, int32_t v) { return Fixed(k, kGgufI32, v, 4); }
  GgufBuilder& U64(const std::string& k, uint64_t v) { return Fixed(k, kGgufU64, v, 8); }
  GgufBuilder& I64(const std::string& k, int64_t v) { return Fixed(k, kGgufI64, v, 8); }
  GgufBuilder& Bool(const std::string& k, bool v) { return Fixed(k, kGgufBool, v ? 1 : 0, 1); }
  GgufBuilder& F32(const std::string& k, float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return Fixed(k, kGgufF32, bits, 4);
  }
  GgufBuilder& F64(const std::string& k, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return Fixed(k, kGgufF64, bits, 8);
  }
  GgufBuilder& String(const std::string& k, const std::string& v) {
    Key(k, kGgufString);
    Str(kv_, v);
    return *this;
  }
  GgufBuilder& StringArray(const std::string& k, const std::vector<std::string>& items) {
    Key(k, kGgufArray);
    Le(kv_, kGgufString, 4);
    Le(kv_, items.size(), 8);
    for (const std::string& s : items) Str(kv_, s);
    return *this;
  }
  // An array of a fixed-size integer type (`elem_type` one of kGgufU8..kGgufI64, kGgufBool).
  GgufBuilder& IntArray(const std::string& k, uint32_t elem_type, const std::vector<int64_t>& v) {
    Key(k, kGgufArray);
    Le(kv_, elem_type, 4);
    Le(kv_, v.size(), 8);
    for (int64_t x : v) Le(kv_, static_cast<uint64_t>(x), FixedSize(elem_type));
    return *this;
  }
  GgufBuilder& F32Array(const std::string& k, const std::vector<float>& v) {
    Key(k, kGgufArray);
    Le(kv_, kGgufF32, 4);
    Le(kv_, v.size(), 8);
    for (float f : v) {
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      Le(kv_, bits, 4);
    }
    return *this;
  }
  // Sets the alignment used for offsets and writes it as `general.alignment` (u32).
  GgufBuilder& Alignment(uint32_t alignment) {
    alignment_ = alignment;
    return U32("general.alignment", alignment);
  }
  // Appends raw bytes as one more kv pair (for malformed-input tests).
  GgufBuilder& RawKv(const std::string& bytes) {
    kv_ += bytes;
    ++kv_count_;
    return *this;
  }

  // ---- tensors ----
  // Adds a tensor with ggml dims `ne` (fastest first), placed after the previous one and
  // padded to the alignment, as llama.cpp writes them.
  GgufBuilder& Tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type) {
    tensors_.push_back({name, ne, type, std::nullopt});
    return *this;
  }
  // Adds a tensor at an explicit data offset (for bad-offset tests).
  GgufBuilder& TensorAt(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
                        uint64_t offset) {
    tensors_.push_back({name, ne, type, offset});
    return *this;
  }

  // ---- overrides for malformed files ----
  GgufBuilder& Magic(uint32_t magic) {
    magic_ = magic;
    return *this;
  }
  GgufBuilder& TensorCount(uint64_t n) {
    tensor_count_ = n;
    return *this;
  }
  GgufBuilder& KvCount(uint64_t n) {
    kv_count_override_ = n;
    return *this;
  }

  // Header, kv pairs and tensor infos, zero-padded to the start of the data section.
  std::string Header() const {
    std::string out;
    Le(out, magic_, 4);
    Le(out, version_, 4);
    Le(out, tensor_count_.value_or(tensors_.size()), 8);
    Le(out, kv_count_override_.value_or(kv_count_), 8);
    out += kv_;
    uint64_t next = 0;
    for (const TensorSpec& t : tensors_) {
      Str(out, t.name);
      Le(out, t.ne.size(), 4);
      for (uint64_t d : t.ne) Le(out, d, 8);
      Le(out, t.type, 4);
      const uint64_t offset = t.offset.value_or(next);
      Le(out, offset, 8);
      next = AlignUp(offset + GgmlTensorBytes(t.ne, t.type));
    }
    out.resize(AlignUp(out.size()), '\0');
    return out;
  }

  // Bytes of the data section: the end of the furthest tensor, aligned.
  uint64_t DataBytes() const {
    uint64_t next = 0, end = 0;
    for (const TensorSpec& t : tensors_) {
      const uint64_t offset = t.offset.value_or(next);
      next = AlignUp(offset + GgmlTensorBytes(t.ne, t.type));
      end = std::max(end, next);
    }
    return end;
  }

  uint64_t FileSize() const { return Header().size() + DataBytes(); }

  // The whole file with zero-filled tensor data.
  std::string Build() const {
    std::string out = Header();
    out.resize(out.size() + DataBytes(), '\0');
    return out;
  }

  // Writes the header and extends the file to FileSize() with ftruncate (sparse: the data
  // section occupies no disk). Returns false and sets *error on failure.
  bool WriteSparse(const std::string& path, std::string* error) const {
    const std::string header = Header();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (error) *error = "cannot create " + path;
      return false;
    }
    bool ok = ::write(fd, header.data(), header.size()) == static_cast<ssize_t>(header.size()) &&
              ::ftruncate(fd, static_cast<off_t>(header.size() + DataBytes())) == 0;
    ok = (::close(fd) == 0) && ok;
    if (!ok && error) *error = "cannot write " + path;
    return ok;
  }

 private:
  struct TensorSpec {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::optional<uint64_t> offset;
  };

  static uint32_t FixedSize(uint32_t type) {
    switch (type) {
      case kGgufU8:
      case kGgufI8:
      case kGgufBool:
        return 1;
      case kGgufU16:
      case kGgufI16:
        return 2;
      case kGgufU32:
      case kGgufI32:
      case kGgufF32:
        return 4;
      default:
        return 8;
    }
  }
  static void Le(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  static void Str(std::string& out, const std::string& s) {
    Le(out, s.size(), 8);
    out += s;
  }
  uint64_t AlignUp(uint64_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }
  void Key(const std::string& k, uint32_t type) {
    Str(kv_, k);
    Le(kv_, type, 4);
    ++kv_count_;
  }
  GgufBuilder& Fixed(const std::string& k, uint32_t type, uint64_t v, int bytes) {
    Key(k, type);
    Le(kv_, v, bytes);
    return *this;
  }

  uint32_t magic_ = 0x46554747;  // "GGUF"
  uint32_t version_;
  uint64_t alignment_ = 32;
  std::string kv_;
  uint64_t kv_count_ = 0;
  std::optional<uint64_t> kv_count_override_;
  std::optional<uint64_t> tensor_count_;
  std::vector<TensorSpec> tensors_;
};

// Shape of a Llama-style decoder for LlamaGguf().
struct LlamaGgufShape {
  uint32_t layers = 2;
  uint32_t hidden = 256;
  uint32_t heads = 8;
  uint32_t kv_heads = 2;
  uint32_t ffn = 512;
  uint32_t vocab = 1024;
  uint32_t context = 4096;
  uint32_t weight_type = kGgmlQ4_K;  // attention and MLP matrices
  uint32_t output_type = kGgmlQ6_K;  // output.weight, as llama.cpp's Q4_K_M mixes do
  bool with_vocab = true;            // write tokenizer.ggml.tokens ("t0", "t1", ...)
};

// A llama.cpp-style Llama model: metadata, token_embd, per-layer attention (GQA) and
// SwiGLU MLP tensors, output_norm and output. Realistic sizes make a realistic file:
// {32 layers, 4096 hidden, 32/8 heads, 14336 ffn, 128256 vocab} is Llama-3-8B.
inline GgufBuilder LlamaGguf(const LlamaGgufShape& s, uint32_t version = 3) {
  GgufBuilder b(version);
  b.String("general.architecture", "llama")
      .String("general.name", "test-llama")
      .U32("llama.block_count", s.layers)
      .U32("llama.embedding_length", s.hidden)
      .U32("llama.attention.head_count", s.heads)
      .U32("llama.attention.head_count_kv", s.kv_heads)
      .U32("llama.feed_forward_length", s.ffn)
      .U32("llama.context_length", s.context)
      .U32("llama.rope.dimension_count", s.hidden / s.heads)
      .F32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .U32("general.file_type", 15);
  if (s.with_vocab) {
    std::vector<std::string> tokens(s.vocab);
    for (uint32_t i = 0; i < s.vocab; ++i) tokens[i] = "t" + std::to_string(i);
    b.String("tokenizer.ggml.model", "gpt2").StringArray("tokenizer.ggml.tokens", tokens);
  }
  const uint64_t head_dim = s.hidden / s.heads;
  const uint64_t kv_dim = head_dim * s.kv_heads;
  b.Tensor("token_embd.weight", {s.hidden, s.vocab}, s.weight_type);
  for (uint32_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    b.Tensor(p + "attn_norm.weight", {s.hidden}, kGgmlF32)
        .Tensor(p + "attn_q.weight", {s.hidden, s.hidden}, s.weight_type)
        .Tensor(p + "attn_k.weight", {s.hidden, kv_dim}, s.weight_type)
        .Tensor(p + "attn_v.weight", {s.hidden, kv_dim}, s.weight_type)
        .Tensor(p + "attn_output.weight", {s.hidden, s.hidden}, s.weight_type)
        .Tensor(p + "ffn_norm.weight", {s.hidden}, kGgmlF32)
        .Tensor(p + "ffn_gate.weight", {s.hidden, s.ffn}, s.weight_type)
        .Tensor(p + "ffn_up.weight", {s.hidden, s.ffn}, s.weight_type)
        .Tensor(p + "ffn_down.weight", {s.ffn, s.hidden}, s.weight_type);
  }
  b.Tensor("output_norm.weight", {s.hidden}, kGgmlF32)
      .Tensor("output.weight", {s.hidden, s.vocab}, s.output_type);
  return b;
}

}  // namespace modelgrid::testutil
