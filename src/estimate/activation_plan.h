// Chooses how to predict a model's activations (transformer closed form, ONNX liveness,
// TorchScript dry run) and returns the forward pass as an allocation trace plus what the
// runtime terms need to know (matmuls, convolutions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "estimate/allocation_trace.h"
#include "estimate/model_source.h"
#include "formats/dtype.h"

namespace modelgrid {

struct ActivationPlanInput {
  const ModelSource& model;
  int64_t batch = 1;
  int64_t sequence = 128;
  ComputeDType dtype = ComputeDType::kFp32;
  std::vector<std::vector<int64_t>> input_shapes;  // without batch; empty: from the model
};

struct ActivationPlan {
  AllocationTrace trace;
  uint64_t kv_cache_bytes = 0;        // part of the trace's peak
  uint64_t cudnn_workspace_bytes = 0; // predicted cuDNN workspace (0 without convolutions)
  bool uses_matmul = false;           // needs the cuBLAS workspace
  bool uses_sequence = false;         // the sequence length matters for this model
  std::string source;                 // one line: how the trace was derived
  std::vector<std::string> assumptions;
};

Result<ActivationPlan> PlanActivations(const ActivationPlanInput& input);

// cuDNN workspace predicted from the largest convolution output (bytes at the compute
// dtype): the heuristics of cuDNN 9 pick implicit-GEMM / Winograd algorithms whose
// workspace scales with the output tile, bounded below by a fixed 16 MiB.
uint64_t CudnnWorkspaceBytes(uint64_t largest_conv_output_bytes);

}  // namespace modelgrid
