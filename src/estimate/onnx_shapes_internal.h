// Private to onnx_shapes*.cc: the per-node view that the operator rules work on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "estimate/onnx_shapes.h"

namespace modelgrid::onnx_shapes {

inline constexpr int64_t kMaxDim = int64_t{1} << 53;

// One node's inputs, attributes and outputs. Rules set outputs' shapes (and values);
// InferOnnxNode validates them afterwards.
struct NodeCtx {
  const OnnxNode& node;
  const std::vector<const OnnxValue*>& inputs;
  std::vector<OnnxValue>& outputs;
  std::vector<std::string>* notes;

  const OnnxValue* In(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  bool HasShape(size_t i) const { return In(i) != nullptr && In(i)->shape_known; }
  const std::vector<int64_t>& Shape(size_t i) const { return In(i)->shape; }
  // Known int64 values of input i, or null.
  const std::vector<int64_t>* Values(size_t i) const {
    const OnnxValue* v = In(i);
    return v != nullptr && v->values_known ? &v->values : nullptr;
  }
  bool HasAttr(const char* name) const { return node.FindAttribute(name) != nullptr; }
  int64_t AttrInt(const char* name, int64_t fallback) const {
    const OnnxAttribute* a = node.FindAttribute(name);
    return a != nullptr ? a->i : fallback;
  }
  double AttrFloat(const char* name, double fallback) const {
    const OnnxAttribute* a = node.FindAttribute(name);
    return a != nullptr ? a->f : fallback;
  }
  std::vector<int64_t> AttrInts(const char* name) const {
    const OnnxAttribute* a = node.FindAttribute(name);
    return a != nullptr ? a->ints : std::vector<int64_t>{};
  }
  std::string AttrString(const char* name) const {
    const OnnxAttribute* a = node.FindAttribute(name);
    return a != nullptr ? a->s : std::string();
  }
  // Integer list from input `index` (when its values are known) or else attribute `name`.
  // Returns false when neither is available.
  bool IntsFromInputOrAttr(size_t index, const char* name, std::vector<int64_t>* out) const;

  DType InDType(size_t i) const { return In(i) != nullptr ? In(i)->dtype : DType::kUnknown; }
  OnnxValue& Out(size_t i) { return outputs[i]; }
  void Note(const std::string& text) const { notes->push_back(node.op_type + ": " + text); }
  // Sets output i's dtype and shape (when the node has that output).
  void SetOut(size_t i, DType dtype, std::vector<int64_t> shape);
  // Sets output i to an input's dtype and shape.
  void SameAs(size_t out, size_t in);
};

// Maps `axis` in [-rank, rank) to [0, rank); false when outside.
bool NormalizeAxis(int64_t axis, int64_t rank, int64_t* out);

// Numpy broadcast of two shapes; false when incompatible.
bool Broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
               std::vector<int64_t>* out);

// Saturating product of dims (stops at kMaxDim + 1).
int64_t SaturatingProduct(const std::vector<int64_t>& dims, size_t begin, size_t end);

// True for integer and bool element types.
bool IsIntegral(DType t);

// Rules for tensor-shaping operators (onnx_shapes_tensor.cc): Shape, Reshape, Slice, ...
bool InferTensorOp(NodeCtx& ctx);

// Rules for neural-network operators (onnx_shapes_nn.cc). Each returns true when it
// handled the op type.
bool InferNnOp(NodeCtx& ctx);

}  // namespace modelgrid::onnx_shapes
