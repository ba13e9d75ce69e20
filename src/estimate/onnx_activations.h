// Activation memory of an ONNX graph: shape inference over the graph's operators, then
// tensor liveness in node order, emitted as an AllocationTrace for the allocator model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "estimate/allocation_trace.h"
#include "formats/onnx.h"

namespace modelgrid {

struct OnnxTraceOptions {
  int64_t batch = 1;              // value for the first symbolic (or -1) input dim
  int64_t sequence = 128;         // value for other symbolic dims of integer inputs
  uint32_t activation_bytes = 4;  // element size of floating activations
  // Per-input shapes that override the graph's own (from a Triton config), without the
  // batch dimension; empty to use the graph's.
  std::vector<std::vector<int64_t>> input_shapes;
  // Treat MatMul -> Softmax -> MatMul attention as one fused kernel (no scores tensor).
  bool fuse_attention = true;
  // When > 0, each convolution also takes a transient workspace of this fraction of its
  // output's bytes (cuDNN), allocated after the output and freed at once.
  double conv_workspace_fraction = 0;
};

struct OnnxActivationResult {
  AllocationTrace trace;         // one forward pass: inputs, every node's outputs
  uint64_t peak_live_bytes = 0;  // trace.PeakLiveBytes()
  uint64_t conv_count = 0;       // Conv/ConvTranspose nodes (cuDNN workspace)
  uint64_t matmul_count = 0;     // MatMul/Gemm nodes (cuBLAS workspace)
  uint64_t largest_conv_output_bytes = 0;
  std::vector<std::string> assumptions;  // e.g. "op X: output shape assumed equal to input"
};

// Infers shapes for the common vision and transformer operators (Conv, Gemm, MatMul,
// pooling, normalisation, element-wise, Reshape/Flatten/Transpose/Concat/Slice/Gather,
// Softmax, ...). Unknown operators get the shape of their first input, recorded in
// assumptions. An output is allocated when its node runs and freed after its last use;
// graph outputs live to the end. Fails with kInvalidArgument when a graph input has no
// usable shape and none is given.
Result<OnnxActivationResult> BuildOnnxActivationTrace(const OnnxModel& model,
                                                      const OnnxTraceOptions& options);

}  // namespace modelgrid
