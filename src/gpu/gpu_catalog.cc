#include "gpu/gpu_catalog.h"

#include <algorithm>
#include <cctype>

namespace modelgrid {

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Measured on an H200 (data/h200-torch-footprints.json): a C++ LibTorch 2.11
// process with CUDA 13 and lazy module loading holds 686 MiB beyond its reserved bytes.
constexpr uint64_t kHopperContext = 686 * kMiB;
const char* const kMeasured = "measured on H200 (CUDA 13, LibTorch 2.11, lazy loading)";
const char* const kAssumed =
    "assumed equal to the H200 measurement (CUDA 13, LibTorch 2.11, lazy loading)";
// PyTorch's default CUBLAS_WORKSPACE_CONFIG: ":4096:8" (32 MiB) on sm90+,
// ":4096:2:16:8" (8 MiB + 128 KiB) before.
constexpr uint64_t kHopperCublas = 32 * kMiB;
constexpr uint64_t kPreHopperCublas = 8 * kMiB + 128 * 1024;

std::string Normalize(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-' || c == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (out.rfind("nvidia", 0) == 0) out = out.substr(6);
  return out;
}

}  // namespace

const std::vector<GpuModel>& GpuCatalog() {
  static const std::vector<GpuModel> kCatalog = {
      {"H200",
       {"H200-141GB", "H200 141GB HBM3e", "H200 NVL"},
       143771 * kMiB,
       90,
       kHopperContext,
       kHopperCublas,
       kMeasured},
      {"H100-80GB",
       {"H100", "H100 80GB HBM3", "H100 SXM", "H100 PCIe", "H100-SXM5-80GB"},
       81559 * kMiB,
       90,
       kHopperContext,
       kHopperCublas,
       kAssumed},
      {"H100-94GB", {"H100 NVL"}, 95830 * kMiB, 90, kHopperContext, kHopperCublas, kAssumed},
      {"A100-80GB",
       {"A100 80GB PCIe", "A100-SXM4-80GB", "A100 SXM4 80GB"},
       81920 * kMiB,
       80,
       kHopperContext,
       kPreHopperCublas,
       kAssumed},
      {"A100-40GB",
       {"A100", "A100-SXM4-40GB", "A100 PCIe 40GB", "A100 SXM4 40GB"},
       40960 * kMiB,
       80,
       kHopperContext,
       kPreHopperCublas,
       kAssumed},
      {"L40S", {"L40S 48GB"}, 46068 * kMiB, 89, kHopperContext, kPreHopperCublas, kAssumed},
      {"L4", {"L4 24GB"}, 23034 * kMiB, 89, kHopperContext, kPreHopperCublas, kAssumed},
      {"A10G", {"A10", "A10G 24GB"}, 23028 * kMiB, 86, kHopperContext, kPreHopperCublas, kAssumed},
      {"T4", {"Tesla T4", "T4 16GB"}, 15360 * kMiB, 75, kHopperContext, kPreHopperCublas, kAssumed},
      {"RTX4090",
       {"GeForce RTX 4090", "RTX 4090", "4090"},
       24564 * kMiB,
       89,
       kHopperContext,
       kPreHopperCublas,
       kAssumed},
  };
  return kCatalog;
}

const GpuModel* FindGpu(std::string_view name) {
  const std::string key = Normalize(name);
  if (key.empty()) return nullptr;
  for (const auto& gpu : GpuCatalog()) {
    if (Normalize(gpu.name) == key) return &gpu;
    for (const auto& alias : gpu.aliases) {
      if (Normalize(alias) == key) return &gpu;
    }
  }
  return nullptr;
}

const GpuModel& DefaultGpu() {
  static const GpuModel kDefault = {
      "unknown",
      {},
      80ull * 1024 * kMiB,
      90,
      kHopperContext,
      kHopperCublas,
      "unknown GPU: Hopper defaults (686 MiB context measured on H200, 32 MiB cuBLAS "
      "workspace, 80 GiB)"};
  return kDefault;
}

}  // namespace modelgrid
