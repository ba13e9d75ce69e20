// TorchScript dry runs as the estimator sees them: the request, the result, and who runs
// them. The dry run itself loads and runs the model (backends/libtorch/dry_run.cc), so it
// never runs in `modelgrid` or the server: the estimator asks the DryRunner installed at
// start, which in the CLI is a sandboxed `modelgrid-worker dry-run` child
// (estimate/dry_run_process.h). LibTorch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "estimate/allocation_trace.h"

namespace modelgrid {

struct DryRunOptions {
  std::string path;   // TorchScript file
  int64_t batch = 1;  // batch to predict
  // Input shapes without the batch dimension, one per forward argument; empty to infer
  // [3, 224, 224] for a single image input.
  std::vector<std::vector<int64_t>> input_shapes;
  // One per input: float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8 or
  // bool (Triton's TYPE_*). Empty: every input is floating, in the module's floating type.
  // A module the CPU cannot run in float16/bfloat16 runs converted to float32.
  std::vector<std::string> input_dtypes;
  // Bytes per floating element to predict: the trace's allocations are scaled from the
  // element size the forward computed in to this one.
  uint32_t activation_bytes = 4;
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
  // The inputs at `batch` (floating ones in activation_bytes elements). They are made before
  // the recorded forward, so they are not in the trace.
  uint64_t input_bytes = 0;
  std::vector<std::string> assumptions;
};

// Runs one dry run; its errors are the dry run's (kNotFound, kInvalidArgument, ...).
using DryRunner = std::function<Result<DryRunResult>(const DryRunOptions&)>;

// Installs the process's dry runner (the CLI's main does, before any estimate). Not
// thread-safe against concurrent RunDryRun: call it at start.
void SetDryRunner(DryRunner runner);

// Runs a dry run with the installed runner; kUnsupported when none is installed.
// Thread-safe when the runner is.
Result<DryRunResult> RunDryRun(const DryRunOptions& options);

// The JSON that carries options and results between `modelgrid` and `modelgrid-worker
// dry-run`. The parsers take untrusted input: every field is type-checked, a trace's
// frees must name earlier allocations, and sizes are bounded; kInvalidArgument otherwise.
nlohmann::json DryRunOptionsToJson(const DryRunOptions& options);
Result<DryRunOptions> DryRunOptionsFromJson(const nlohmann::json& j);
nlohmann::json DryRunResultToJson(const DryRunResult& result);
Result<DryRunResult> DryRunResultFromJson(const nlohmann::json& j);

}  // namespace modelgrid
