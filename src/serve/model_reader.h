// Reads one model of the repository into a Model: its config (parsed once), what the plan
// reserves for it (a measured peak beats the estimate; the config's memory_bytes beats
// both), its instance counts and what a worker loads. The model file is estimated from its
// headers here; a TorchScript dry run, when the estimate needs one, runs in a sandboxed
// worker process (estimate/dry_run_process.h), never in the server.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "serve/grid_types.h"

namespace modelgrid {

// A new Model (state LOADING, not placed) for REPO/`name`; warnings go to grid.log.
// With `override`, its config is used instead of config.pbtxt's.
Result<std::shared_ptr<Model>> ReadModel(const GridContext& grid, const std::string& name,
                                         const ConfigOverride* override = nullptr);

}  // namespace modelgrid
