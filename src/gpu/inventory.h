// GPU inventory: the devices a plan targets. Real GPUs come from NVML, loaded at run time
// with dlopen so that the build needs no CUDA; virtual GPUs come from a spec such as
// "2xH100-80GB,1xL4" or "4x80GiB", for planning a cluster from a laptop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid {

struct GpuDevice {
  int index = 0;                // position in the inventory (NVML index for real GPUs)
  std::string name;             // catalog name ("H100-80GB"), NVML name, or "80GiB"
  uint64_t capacity_bytes = 0;  // total memory
  uint64_t free_bytes = 0;      // free now (NVML); capacity_bytes for virtual GPUs
  int utilization_percent = 0;  // GPU busy percent over NVML's last sample; 0 if virtual
  uint64_t context_bytes = 0;   // CUDA context per worker process (from the GPU catalog)
  bool is_virtual = true;
};

// Most GPUs one spec may describe; more is certainly a typo.
constexpr int kMaxGpus = 4096;

// Parses a comma-separated spec of "[COUNTx]NAME" or "[COUNTx]SIZE" terms: a catalog name
// or alias ("H100-80GB", "L4", "H200"), or a size with any unit of ParseByteSize ("80GiB",
// "24GB", "85899345920B"; GB = 10^9 bytes, GiB = 2^30; a size needs its unit, so that it
// is not taken for a name). Sized GPUs take the default context cost. Fails with kInvalidArgument
// naming the bad term on unknown names, zero, negative or absurd counts (more than kMaxGpus in all)
// and sizes (0, or over 64 TiB).
Result<std::vector<GpuDevice>> ParseGpuSpec(std::string_view spec);

// Discovers the GPUs of this machine through NVML (libnvidia-ml.so.1 via dlopen): name,
// total and free memory, utilisation; context cost from the catalog by name. Returns
// kUnavailable with a message fit for users when the library is missing, NVML fails to
// initialise, or no GPU is present. Blocks for NVML's initialisation; not thread-safe
// against concurrent NVML users in the same process.
Result<std::vector<GpuDevice>> DiscoverNvmlGpus();

// "auto" -> DiscoverNvmlGpus(), anything else -> ParseGpuSpec(spec).
Result<std::vector<GpuDevice>> ResolveGpus(std::string_view spec);

}  // namespace modelgrid
