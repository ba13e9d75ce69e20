#include "formats/tensor_info.h"

namespace modelgrid {

Result<uint64_t> ElementCount(const std::vector<int64_t>& shape) {
  constexpr uint64_t kMaxElements = uint64_t{1} << 53;
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return CorruptData("negative dimension " + std::to_string(d));
    if (d == 0) return uint64_t{0};
  }
  for (int64_t d : shape) {
    uint64_t ud = static_cast<uint64_t>(d);
    if (ud > kMaxElements || n > kMaxElements / ud) {
      return CorruptData("tensor shape has more than 2^53 elements");
    }
    n *= ud;
  }
  return n;
}

TensorTotals SumTensors(const std::vector<TensorInfo>& tensors) {
  TensorTotals t;
  for (const auto& x : tensors) {
    t.bytes += x.bytes;
    t.elements += x.elements;
  }
  return t;
}

}  // namespace modelgrid
