// What a format parser reports about one stored tensor, read from headers only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/dtype.h"

namespace modelgrid {

struct TensorInfo {
  std::string name;            // as stored ("model.layers.0.self_attn.q_proj.weight")
  DType dtype = DType::kUnknown;
  std::vector<int64_t> shape;  // empty for a scalar
  uint64_t elements = 0;       // product of shape (1 for a scalar)
  uint64_t bytes = 0;          // bytes in the file (block layout for quantised tensors)
};

// Multiplies out `shape`, failing with kCorruptData on a negative dimension or when the
// product exceeds 2^53 elements (no real model is that large; it means a lying header).
Result<uint64_t> ElementCount(const std::vector<int64_t>& shape);

// Sum of `bytes` and of `elements` over all tensors.
struct TensorTotals {
  uint64_t bytes = 0;
  uint64_t elements = 0;
};
TensorTotals SumTensors(const std::vector<TensorInfo>& tensors);

}  // namespace modelgrid
