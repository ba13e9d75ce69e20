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
  bool host = false;  // for the host CPU: no cuDNN workspaces in the trace
};

struct ActivationPlan {
  AllocationTrace trace;
  uint64_t kv_cache_bytes = 0;  // part of the trace's peak
  // Largest transient cuDNN workspace (0 on the host). The workspaces are events of the
  // trace, so this is reported, not added again.
  uint64_t cudnn_workspace_bytes = 0;
  bool uses_matmul = false;    // needs the cuBLAS workspace
  bool uses_sequence = false;  // the sequence length matters for this model
  // Graph-derived traces (ONNX, dry run): activation segments are at least this multiple
  // of the trace's peak (calibration.h). 0 for closed forms, which are replayed as they are.
  double activation_segment_factor = 0;
  std::string source;  // one line: how the trace was derived
  std::vector<std::string> assumptions;
};

Result<ActivationPlan> PlanActivations(const ActivationPlanInput& input);

}  // namespace modelgrid
