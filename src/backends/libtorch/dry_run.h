// TorchScript dry run on the CPU: loads the module, runs forward passes at small batches
// while a recording CPU allocator logs every allocation and free, and extrapolates the
// trace to the requested batch. LibTorch headers stay inside dry_run.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "estimate/allocation_trace.h"

namespace modelgrid {

struct DryRunOptions {
  std::string path;   // TorchScript file
  int64_t batch = 1;  // batch to predict
  // Input shapes without the batch dimension, one per forward argument; empty to infer
  // [3, 224, 224] for a single image input.
  std::vector<std::vector<int64_t>> input_shapes;
  std::vector<std::string> input_dtypes;  // "float32" (default) or "int64" per input
  uint32_t activation_bytes = 4;          // float elements are scaled to this size
  // Disable oneDNN during the run so that convolutions take ATen's native kernels, whose
  // buffers (im2col) resemble the GPU's allocations more than oneDNN's reorders do.
  bool disable_mkldnn = true;
  // Predict `batch` from passes at batches 1 and 2 when their traces pair up; false always
  // runs the forward at `batch` (capped at 64, then scaled per sample).
  bool extrapolate = true;
};

struct DryRunResult {
  AllocationTrace trace;      // the forward at `batch`, sizes scaled to activation_bytes
  uint64_t conv_count = 0;    // convolutions seen in the graph (cuDNN workspace)
  uint64_t matmul_count = 0;  // linear / matmul / addmm nodes (cuBLAS workspace)
  uint64_t largest_conv_output_bytes = 0;
  bool extrapolated = false;  // trace predicted from batches 1 and 2, not run at `batch`
  std::vector<std::string> assumptions;
};

// True when this build includes LibTorch (dry runs available).
bool TorchDryRunAvailable();

// Runs the dry run. Fails with kUnsupported when built without LibTorch, kNotFound when the
// file does not exist, kInvalidArgument when the module cannot be loaded or its forward
// rejects the inputs (the message says which input shapes were tried). Blocks for a few
// forward passes (seconds). Thread-safe: calls are serialised, because the run swaps
// process-wide LibTorch settings (CPU allocator, thread count, oneDNN) and restores them.
Result<DryRunResult> TorchScriptDryRun(const DryRunOptions& options);

}  // namespace modelgrid
