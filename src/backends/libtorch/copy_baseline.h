// The limit a swap-in onto a device can reach: a plain copy of the same bytes from pinned
// host memory into a buffer already on `device` (cudaMemcpy underneath on CUDA), for
// bench/swap_bench to measure swap-ins against. LibTorch stays behind this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace modelgrid {

class DeviceCopy {
 public:
  // Buffers of `bytes` on the host (pinned when `device` is CUDA) and on `device` ("cpu",
  // "cuda:N"). kInvalidArgument for a device LibTorch does not know or cannot use.
  static Result<std::unique_ptr<DeviceCopy>> Make(const std::string& device, uint64_t bytes);
  virtual ~DeviceCopy() = default;
  // Copies the host buffer to the device one and returns once it is there.
  virtual void Run() = 0;
};

}  // namespace modelgrid
