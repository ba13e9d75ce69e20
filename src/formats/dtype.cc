#include "formats/dtype.h"

#include <string>

namespace modelgrid {

uint32_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF64:
    case DType::kI64:
    case DType::kU64:
    case DType::kC64: return 8;
    case DType::kC128: return 16;
    case DType::kF32:
    case DType::kI32:
    case DType::kU32: return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16:
    case DType::kU16: return 2;
    case DType::kF8E4M3:
    case DType::kF8E5M2:
    case DType::kI8:
    case DType::kU8:
    case DType::kBool: return 1;
    case DType::kUnknown:
    case DType::kBlockQuantized: return 0;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF64: return "float64";
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kF8E4M3: return "float8_e4m3fn";
    case DType::kF8E5M2: return "float8_e5m2";
    case DType::kC64: return "complex64";
    case DType::kC128: return "complex128";
    case DType::kI64: return "int64";
    case DType::kI32: return "int32";
    case DType::kI16: return "int16";
    case DType::kI8: return "int8";
    case DType::kU64: return "uint64";
    case DType::kU32: return "uint32";
    case DType::kU16: return "uint16";
    case DType::kU8: return "uint8";
    case DType::kBool: return "bool";
    case DType::kBlockQuantized: return "block-quantized";
    case DType::kUnknown: return "unknown";
  }
  return "unknown";
}

bool IsFloating(DType dtype) {
  switch (dtype) {
    case DType::kF64:
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kF8E4M3:
    case DType::kF8E5M2: return true;
    default: return false;
  }
}

Result<ComputeDType> ParseComputeDType(std::string_view text) {
  if (text == "fp32" || text == "float32" || text == "float") return ComputeDType::kFp32;
  if (text == "fp16" || text == "float16" || text == "half") return ComputeDType::kFp16;
  if (text == "bf16" || text == "bfloat16") return ComputeDType::kBf16;
  if (text == "int8") return ComputeDType::kInt8;
  return InvalidArgument("unknown dtype '" + std::string(text) +
                         "' (expected fp32, fp16, bf16 or int8)");
}

std::string_view ComputeDTypeName(ComputeDType dtype) {
  switch (dtype) {
    case ComputeDType::kFp32: return "fp32";
    case ComputeDType::kFp16: return "fp16";
    case ComputeDType::kBf16: return "bf16";
    case ComputeDType::kInt8: return "int8";
  }
  return "fp32";
}

uint32_t WeightElementBytes(ComputeDType dtype) {
  switch (dtype) {
    case ComputeDType::kFp32: return 4;
    case ComputeDType::kFp16:
    case ComputeDType::kBf16: return 2;
    case ComputeDType::kInt8: return 1;
  }
  return 4;
}

uint32_t ActivationElementBytes(ComputeDType dtype) {
  return dtype == ComputeDType::kFp32 ? 4 : 2;
}

}  // namespace modelgrid
