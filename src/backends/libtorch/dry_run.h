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
  // Disable oneDNN so that convolutions take ATen's native kernels (im2col buffers). Off by
  // default: against H200 peaks of torchvision models, oneDNN's trace was within 0.87-1.00x
  // at batches 8 and 32, the native one 0.89-1.51x (resnet18's im2col buffers dominate).
  bool disable_mkldnn = false;
  // Predict `batch` from passes at batches 1 and 2 (or 2 and 3) when their traces pair up;
  // false always runs the forward at `batch` (capped at 64, then scaled per sample).
  bool extrapolate = true;
};

struct DryRunResult {
  AllocationTrace trace;      // the forward at `batch`, sizes scaled to activation_bytes
  uint64_t conv_count = 0;    // convolutions seen in the graph (cuDNN workspace)
  uint64_t matmul_count = 0;  // linear / matmul / addmm nodes (cuBLAS workspace)
  // Largest convolution output at `batch`, in activation_bytes elements (observed at batch 1
  // through RecordFunction and scaled; the largest allocation when no output was observed).
  uint64_t largest_conv_output_bytes = 0;
  bool extrapolated = false;  // trace predicted from two small batches, not run at `batch`
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
