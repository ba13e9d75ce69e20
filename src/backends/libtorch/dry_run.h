// TorchScript dry run on the CPU: loads the module, runs forward passes at small batches
// while a recording CPU allocator logs every allocation and free, and extrapolates the
// trace to the requested batch. LibTorch headers stay inside dry_run.cc. It runs model code:
// only modelgrid-worker (and tests) call it; the estimator reaches it through a DryRunner.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "estimate/dry_run.h"  // DryRunOptions, DryRunResult

namespace modelgrid {

// True when this build includes LibTorch (dry runs available).
bool TorchDryRunAvailable();

// Runs the dry run. Fails with kUnsupported when built without LibTorch, kNotFound when the
// file does not exist, kInvalidArgument when the module cannot be loaded or its forward
// rejects the inputs (the message says which input shapes were tried). Blocks for a few
// forward passes (seconds). Thread-safe: calls are serialised, because the run swaps
// process-wide LibTorch settings (CPU allocator, thread count, oneDNN) and restores them.
Result<DryRunResult> TorchScriptDryRun(const DryRunOptions& options);

}  // namespace modelgrid
