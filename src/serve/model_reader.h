// Reads one model of the repository into a Model: its config (parsed once), what the plan
// reserves for it (a measured peak beats the estimate; the config's memory_bytes beats
// both), its instance counts and what a worker loads. The model file is estimated from its
// headers here; a TorchScript dry run, when the estimate needs one, runs in a sandboxed
// worker process (estimate/dry_run_process.h), never in the server.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "plan/plan_types.h"
#include "serve/grid_types.h"

namespace modelgrid {

// The model folder `dir` with `config` as the planner sees it, estimated for the grid's
// device kind (the host and its virtual devices have no CUDA context, workspaces or
// caching allocator).
Result<ModelRequest> RequestForGrid(const GridContext& grid, const std::string& dir,
                                    const TritonModelConfig& config);

// How serving a model spreads its instances: over `devices` distinct devices
// (parameters.replicas, an instance_group's GPUs), `per_device` side by side on each (the
// instance_group counts, at most kMaxSlotInstances), in a worker of its own when
// `own_worker` (isolation: process, or several instances: a shared worker runs one request
// at a time, so several instances get a worker with a thread each).
struct InstanceSpread {
  int devices = 1;
  int per_device = 1;
  bool own_worker = false;
};
InstanceSpread SpreadOf(const ModelRequest& request, const TritonModelConfig& config);

// A new Model (state LOADING, not placed) for REPO/`name`; warnings go to grid.log.
// With `override`, its config is used instead of config.pbtxt's.
Result<std::shared_ptr<Model>> ReadModel(const GridContext& grid, const std::string& name,
                                         const ConfigOverride* override = nullptr);

}  // namespace modelgrid
