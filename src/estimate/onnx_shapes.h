// Shape inference for one ONNX node at a time, used by the activation estimator.
//
// Shapes are concrete (the batch and sequence are already substituted). Small int64
// tensors whose values are known at analysis time (Shape outputs, Constants, small
// initializers, and arithmetic on them) carry their values, so that Reshape targets built
// by Shape -> Gather -> Concat chains resolve. Every output shape is checked: dims are
// non-negative and element counts stay at or below 2^53. Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "formats/dtype.h"
#include "formats/onnx.h"

namespace modelgrid {

// Values are tracked for tensors of at most this many elements.
inline constexpr uint64_t kMaxKnownValues = 64;

// What analysis knows about one tensor of the graph.
struct OnnxValue {
  DType dtype = DType::kUnknown;
  bool shape_known = false;
  std::vector<int64_t> shape;  // valid when shape_known
  bool values_known = false;   // int64 values (integers and bools), row-major
  std::vector<int64_t> values;
  bool fvalues_known = false;  // float values (Resize scales and similar)
  std::vector<double> fvalues;
};

// Elements of a shape, or an error above 2^53 (or on a negative dim).
Result<uint64_t> ShapeElements(const std::vector<int64_t>& shape);

// Infers the outputs of `node`. `inputs[i]` is null for an omitted optional input or a
// value nothing is known about. `outputs` is resized to node.outputs.size(); an output
// whose shape cannot be inferred keeps shape_known == false. `notes` receives one line
// per assumption (the caller deduplicates). Fails only with kOutOfRange when a shape
// would exceed 2^53 elements or a dim 2^53.
Status InferOnnxNode(const OnnxNode& node, const std::vector<const OnnxValue*>& inputs,
                     std::vector<OnnxValue>* outputs, std::vector<std::string>* notes);

// True for operators whose output aliases their first input (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout at inference): they allocate nothing.
bool IsOnnxViewOp(const std::string& op_type);

}  // namespace modelgrid
