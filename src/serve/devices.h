// The devices a grid serves on, from --gpus: the host, virtual devices run on the host, or
// GPUs (NVML or a catalog spec).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "gpu/inventory.h"
#include "serve/grid_types.h"

namespace modelgrid {

// "cpu" (the host), "cpu:SPEC" (virtual devices of SPEC's sizes), "auto" (NVML) or a GPU
// spec such as 2xH100-80GB. kUnavailable when "auto" finds no GPU.
Result<std::vector<Device>> ResolveDevices(const std::string& spec);

// The devices as the planner sees them (full capacity, each one's context cost).
std::vector<GpuDevice> PlanDevices(const std::vector<Device>& devices);

}  // namespace modelgrid
