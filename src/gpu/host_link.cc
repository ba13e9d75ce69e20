#include "gpu/host_link.h"

#include "gpu/gpu_catalog.h"

namespace modelgrid {

namespace {

// PCIe rates per direction for x16 links, 128b/130b coding: 32 GT/s (Gen5), 16 (Gen4),
// 8 (Gen3) x 16 lanes / 8 bits, rounded as vendors state them.
constexpr uint64_t kGB = 1'000'000'000;
const HostLink kGen5{64 * kGB, "PCIe Gen5 x16"};
const HostLink kGen4{32 * kGB, "PCIe Gen4 x16"};
const HostLink kGen3{16 * kGB, "PCIe Gen3 x16"};

}  // namespace

HostLink HostLinkOf(const GpuDevice& gpu) {
  const GpuModel* model = FindGpu(gpu.name);
  if (model == nullptr) {
    HostLink link = kGen5;
    link.name += " (unknown GPU: Hopper's link assumed)";
    return link;
  }
  const std::string& n = model->name;
  if (n == "H200" || n == "H100-80GB" || n == "H100-94GB") return kGen5;
  if (n == "T4") return kGen3;
  return kGen4;  // A100, L40S, L4, A10G, RTX 4090
}

}  // namespace modelgrid
