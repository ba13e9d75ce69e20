// GGUF (llama.cpp) model files, versions 2 and 3: header, metadata key/values and tensor
// infos, read without touching tensor data.
//
// Layout: magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv pairs
// (string key, u32 value type, value), tensor infos (string name, u32 n_dims, u64 dims[],
// u32 ggml type, u64 offset relative to the aligned data section), then padding to
// `general.alignment` (default 32) and the data section.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/byte_reader.h"
#include "formats/tensor_info.h"
#include "formats/transformer_config.h"

namespace modelgrid {

// One metadata scalar: unsigned integers widen to uint64_t, signed ones to int64_t, floats
// to double.
using GgufScalar = std::variant<uint64_t, int64_t, double, bool, std::string>;

// A metadata value. Arrays keep their length and, for arrays of strings or numbers, at
// most the first 64 elements (tokenizer vocabularies are huge and not needed).
struct GgufValue {
  std::variant<uint64_t, int64_t, double, bool, std::string> scalar;  // unused for arrays
  bool is_array = false;
  uint64_t array_length = 0;
  // Arrays only: the first min(array_length, 64) elements, in order.
  std::vector<GgufScalar> items;
  // Integer arrays of at most 4096 elements only (per-layer values such as
  // attention.head_count_kv): the largest element, clamped to INT64_MAX.
  std::optional<int64_t> int_max;
};

struct GgufFile {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // absolute offset of the data section
  std::map<std::string, GgufValue> metadata;
  // bytes from the ggml type's block layout. `shape` is row-major (PyTorch order, slowest
  // dimension first): GGUF's ne[] reversed, so token_embd.weight is {n_vocab, n_embd}.
  std::vector<TensorInfo> tensors;
  // ggml type id per tensor (same order as tensors), for reporting quantisation mixes.
  std::vector<uint32_t> ggml_types;
};

// Parses a GGUF file. Fails with kCorruptData on a bad magic, truncated input, an offset
// or size that falls outside the file, absurd counts (more than 1M tensors or kv pairs,
// strings over 1 MiB, more than 8 dims), a tensor offset not a multiple of the alignment,
// a first dimension (ne[0]) not a multiple of the type's block size, duplicate keys or
// tensor names, or a `general.alignment` that is not a power of two; and kUnsupported on
// versions other than 2 and 3, unknown or removed ggml types, and nested arrays. Reads
// only the header and tensor infos; memory use is bounded by the header's size.
Result<GgufFile> ParseGguf(const ByteReader& reader);

// Name of a ggml type ("Q4_K", "F16", ...), or "type<N>" when unknown.
std::string GgmlTypeName(uint32_t ggml_type);

// Maps `general.architecture` and its `<arch>.*` keys (block_count, embedding_length,
// attention.head_count, attention.head_count_kv, feed_forward_length, context_length,
// vocab size from the token list length or the output tensor) to a TransformerConfig.
// Returns nullopt when the file lacks the keys to describe a transformer.
std::optional<TransformerConfig> GgufTransformerConfig(const GgufFile& file);

}  // namespace modelgrid
