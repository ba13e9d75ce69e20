// How closely GPU outputs must match references computed on the CPU.
#pragma once

#include <algorithm>

namespace modelgrid::testing {

// cuDNN convolutions run in TF32 by default (LibTorch's allowTF32CuDNN), about 1e-3
// relative: a floating-point reference tolerance gets that much room on a GPU. Exact
// references (0: integers, x + 1) stay exact.
inline double GpuTolerance(double reference_tolerance) {
  return reference_tolerance > 0 ? std::max(reference_tolerance, 5e-3) : 0.0;
}

}  // namespace modelgrid::testing
