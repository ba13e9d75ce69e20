// Element types of tensors found in model files, and the compute dtypes users ask for.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace modelgrid {

enum class DType : uint8_t {
  kUnknown = 0,
  kF64,
  kF32,
  kF16,
  kBF16,
  kF8E4M3,
  kF8E5M2,
  kC64,
  kC128,
  kI64,
  kI32,
  kI16,
  kI8,
  kU64,
  kU32,
  kU16,
  kU8,
  kBool,
  kBlockQuantized,  // GGUF quantised blocks: bytes come from the block layout, not a size
};

// Bytes per element; 0 for kUnknown and kBlockQuantized.
uint32_t DTypeSize(DType dtype);

// Lower-case name as PyTorch spells it ("float32", "bfloat16", "int8", ...).
std::string_view DTypeName(DType dtype);

// True for floating types (the ones a --dtype conversion applies to).
bool IsFloating(DType dtype);

// The dtype a user can pick with --dtype: fp32, fp16, bf16 or int8 (weight-only int8).
enum class ComputeDType : uint8_t { kFp32, kFp16, kBf16, kInt8 };

// Parses "fp32|float32|fp16|float16|half|bf16|bfloat16|int8".
Result<ComputeDType> ParseComputeDType(std::string_view text);
std::string_view ComputeDTypeName(ComputeDType dtype);

// Bytes of one weight element stored in this compute dtype (1 for int8).
uint32_t WeightElementBytes(ComputeDType dtype);
// Bytes of one activation element: int8 models still compute in fp16.
uint32_t ActivationElementBytes(ComputeDType dtype);

}  // namespace modelgrid
