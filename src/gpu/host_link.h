// The host-to-device link of each catalog GPU: how fast weights parked in host memory can
// be copied back (modelgrid plan --host-cache). Stated from the PCIe specification, not
// measured: the rate of the GPU's link per direction (Gen5 x16 64 GB/s, Gen4 x16 32 GB/s,
// Gen3 x16 16 GB/s, 128b/130b coding included). A pinned cudaMemcpy reaches most of it,
// never more, so swap times computed from it are lower bounds.
#pragma once

#include <cstdint>
#include <string>

#include "gpu/inventory.h"

namespace modelgrid {

struct HostLink {
  uint64_t bytes_per_second = 0;
  std::string name;  // "PCIe Gen5 x16"
};

// The link of `gpu` (by its catalog name); unknown and sized GPUs get the default GPU's
// (Hopper: PCIe Gen5 x16), said in the name.
HostLink HostLinkOf(const GpuDevice& gpu);

}  // namespace modelgrid
