// The host-memory tier of a plan (modelgrid plan --host-cache): which of the models that
// fit no GPU wait in host memory instead, where each swaps in, and what a swap-in costs.
//
// A model can be parked when some GPU has room for it beside what swapping cannot evict
// there: the reserve, the workers' contexts, the process workers' models and the shared
// worker's latency-sensitive models (a request for it parks idle resident models of that
// GPU's shared worker to make room). It holds its resident part
// (footprint - transient: weights and buffers; activations are made on the GPU) of the
// host cache. Latency-sensitive models are never parked (they stay resident or unplaced),
// nor process-isolated ones (a context of their own would have to start for each swap-in),
// nor replicas beyond the first (a parked copy adds no throughput).
#pragma once

#include <vector>

#include "gpu/inventory.h"
#include "plan/planner.h"

namespace modelgrid {

// Moves the unplaced instances of `plan` that can be parked into plan->parked, in order,
// while options.host_cache_bytes holds them, each onto the candidate GPU with the fewest
// parked bytes so far (swap traffic spread over the links); the others keep their reason,
// with why they were not parked added. Fills the plan's host cache fields.
void ParkUnplaced(const std::vector<ModelRequest>& models, const std::vector<GpuDevice>& gpus,
                  const PlanOptions& options, Plan* plan);

}  // namespace modelgrid
