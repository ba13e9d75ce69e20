#include "serve/devices.h"

#include <unistd.h>

#include <algorithm>

#include "gpu/gpu_catalog.h"

namespace modelgrid {

namespace {

// The host's memory, the capacity of the "cpu" device.
uint64_t HostMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                               : uint64_t{8} << 30;
}

}  // namespace

Result<std::vector<Device>> ResolveDevices(const std::string& spec) {
  std::vector<Device> devices;
  if (spec == "cpu") {
    devices.push_back(Device{
        0, "cpu", "cpu", "cpu", HostMemoryBytes(), kHostWorkerContextBytes, true, false, {}});
    return devices;
  }
  const bool host = spec.rfind("cpu:", 0) == 0;
  auto gpus = host ? ParseGpuSpec(spec.substr(4)) : ResolveGpus(spec);
  if (!gpus.ok()) return gpus.status().WithContext("--gpus " + spec);
  for (const GpuDevice& g : *gpus) {
    Device d;
    d.index = static_cast<int>(devices.size());
    d.host = host;
    d.label = (host ? "cpu" : "gpu") + std::to_string(d.index);
    d.runtime = host ? "cpu" : "cuda:" + std::to_string(g.index);
    d.name = g.name;
    d.capacity_bytes = g.capacity_bytes;
    d.context_bytes = host ? kHostWorkerContextBytes : g.context_bytes;
    d.nvml = !g.is_virtual;
    devices.push_back(std::move(d));
  }
  return devices;
}

std::vector<GpuDevice> PlanDevices(const std::vector<Device>& devices) {
  std::vector<GpuDevice> gpus;
  for (const Device& d : devices) {
    GpuDevice g;
    g.index = d.index;
    g.name = d.name;
    g.capacity_bytes = g.free_bytes = d.capacity_bytes;
    g.context_bytes = std::max<uint64_t>(1, d.context_bytes);
    gpus.push_back(std::move(g));
  }
  return gpus;
}

}  // namespace modelgrid
