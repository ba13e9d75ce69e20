// Shape and small-value rules for element-wise and tensor-shaping operators; the
// neural-network operators are in onnx_shapes_nn.cc.
#include "estimate/onnx_shapes.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "estimate/onnx_shapes_internal.h"
#include "formats/tensor_info.h"

namespace modelgrid {

namespace onnx_shapes {

bool NodeCtx::IntsFromInputOrAttr(size_t index, const char* name, std::vector<int64_t>* out) const {
  if (const auto* v = Values(index)) {
    *out = *v;
    return true;
  }
  if (In(index) == nullptr && HasAttr(name)) {
    *out = AttrInts(name);
    return true;
  }
  return false;
}

void NodeCtx::SetOut(size_t i, DType dtype, std::vector<int64_t> shape) {
  if (i >= outputs.size()) return;
  outputs[i].dtype = dtype;
  outputs[i].shape = std::move(shape);
  outputs[i].shape_known = true;
}

void NodeCtx::SameAs(size_t out, size_t in) {
  if (out >= outputs.size() || In(in) == nullptr) return;
  outputs[out].dtype = In(in)->dtype;
  outputs[out].shape_known = In(in)->shape_known;
  outputs[out].shape = In(in)->shape;
}

bool IsIntegral(DType t) {
  switch (t) {
    case DType::kI64:
    case DType::kI32:
    case DType::kI16:
    case DType::kI8:
    case DType::kU64:
    case DType::kU32:
    case DType::kU16:
    case DType::kU8:
    case DType::kBool:
      return true;
    default:
      return false;
  }
}

bool NormalizeAxis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

bool Broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
               std::vector<int64_t>* out) {
  size_t rank = std::max(a.size(), b.size());
  out->assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

int64_t SaturatingProduct(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i) {
    if (dims[i] <= 0) return dims[i] == 0 ? 0 : -1;
    p = p > (kMaxDim + 1) / dims[i] ? kMaxDim + 1 : std::min(p * dims[i], kMaxDim + 1);
  }
  return p;
}

namespace {

// clang-format off
const std::set<std::string>& UnaryOps() {
  static const std::set<std::string> ops = {
      "Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Erf", "Clip",
      "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "Exp", "Log",
      "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
      "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
      "ThresholdedRelu", "Shrink", "BitwiseNot", "Softmax", "LogSoftmax", "Hardmax",
      "CumSum", "Trilu", "LRN", "InstanceNormalization", "GroupNormalization",
      "MeanVarianceNormalization", "ReverseSequence", "FastGelu", "QuickGelu", "BiasGelu"};
  return ops;
}
// clang-format on

const std::set<std::string>& BroadcastOps() {
  static const std::set<std::string> ops = {
      "Add",   "Sub",      "Mul",        "Div",         "Pow",
      "Mod",   "Max",      "Min",        "Mean",        "Sum",
      "PRelu", "BitShift", "BitwiseAnd", "BitwiseOr",   "BitwiseXor",
      "Equal", "Less",     "Greater",    "LessOrEqual", "GreaterOrEqual",
      "And",   "Or",       "Xor",        "Where"};
  return ops;
}

bool IsComparison(const std::string& op) {
  return op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
         op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor";
}

// Index of element `flat` of `out_shape` in a tensor of `in_shape` broadcast to it.
size_t BroadcastIndex(size_t flat, const std::vector<int64_t>& out_shape,
                      const std::vector<int64_t>& in_shape) {
  size_t index = 0, stride = 1;
  for (size_t k = out_shape.size(); k-- > 0;) {
    size_t coord = flat % static_cast<size_t>(out_shape[k]);
    flat /= static_cast<size_t>(out_shape[k]);
    size_t off = out_shape.size() - in_shape.size();
    if (k >= off) {
      size_t dim = static_cast<size_t>(in_shape[k - off]);
      index += (dim == 1 ? 0 : coord) * stride;
      stride *= dim;
    }
  }
  return index;
}

// Integer arithmetic on known values; false on overflow or division by zero.
bool ApplyInt(const std::string& op, int64_t a, int64_t b, int64_t* r) {
  if (op == "Add") return !__builtin_add_overflow(a, b, r);
  if (op == "Sub") return !__builtin_sub_overflow(a, b, r);
  if (op == "Mul") return !__builtin_mul_overflow(a, b, r);
  if (op == "Div" || op == "Mod") {
    if (b == 0 || (a == INT64_MIN && b == -1)) return false;
    *r = op == "Div" ? a / b : a % b;
    return true;
  }
  if (op == "Max") return *r = std::max(a, b), true;
  if (op == "Min") return *r = std::min(a, b), true;
  if (op == "Equal") return *r = a == b, true;
  if (op == "Less") return *r = a < b, true;
  if (op == "Greater") return *r = a > b, true;
  if (op == "LessOrEqual") return *r = a <= b, true;
  if (op == "GreaterOrEqual") return *r = a >= b, true;
  if (op == "And") return *r = (a != 0) && (b != 0), true;
  if (op == "Or") return *r = (a != 0) || (b != 0), true;
  return false;
}

void InferBroadcast(NodeCtx& c) {
  const std::string& op = c.node.op_type;
  size_t first = op == "Where" ? 1 : 0;
  std::vector<int64_t> shape;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.HasShape(i)) {
      c.Note("input shape unknown; output shape unknown");
      return;
    }
    std::vector<int64_t> next;
    if (!Broadcast(shape, c.Shape(i), &next)) {
      c.Note("inputs cannot be broadcast together");
      return;
    }
    shape = std::move(next);
  }
  if (op == "PRelu") shape = c.Shape(0);
  DType dtype = IsComparison(op) ? DType::kBool : c.InDType(first);
  c.SetOut(0, dtype, shape);
  // Values of small integer tensors (shape arithmetic).
  uint64_t n = static_cast<uint64_t>(SaturatingProduct(shape, 0, shape.size()));
  if (n > kMaxKnownValues || c.outputs.empty()) return;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.Values(i) == nullptr) return;
  }
  std::vector<int64_t> values(n);
  for (size_t k = 0; k < n; ++k) {
    auto at = [&](size_t i) { return (*c.Values(i))[BroadcastIndex(k, shape, c.Shape(i))]; };
    if (op == "Where") {
      if (c.inputs.size() != 3) return;
      values[k] = at(0) != 0 ? at(1) : at(2);
    } else if (c.inputs.size() == 2) {
      if (!ApplyInt(op, at(0), at(1), &values[k])) return;
    } else {
      return;
    }
  }
  c.Out(0).values = std::move(values);
  c.Out(0).values_known = true;
}

void InferCast(NodeCtx& c) {
  if (c.In(0) == nullptr) return;
  c.SameAs(0, 0);
  DType to = c.node.op_type == "CastLike" ? c.InDType(1) : DTypeFromOnnxCode(c.AttrInt("to", 0));
  OnnxValue& out = c.Out(0);
  out.dtype = to;
  const OnnxValue& in = *c.In(0);
  if (IsIntegral(to)) {
    if (in.values_known) {
      out.values = in.values;
      out.values_known = true;
    } else if (in.fvalues_known) {
      for (double v : in.fvalues) {
        if (!std::isfinite(v) || std::fabs(v) > 9e18) return;
        out.values.push_back(static_cast<int64_t>(v));
      }
      out.values_known = true;
    }
    if (to == DType::kBool) {
      for (auto& v : out.values) v = v != 0;
    }
  } else if (to != DType::kUnknown) {
    if (in.fvalues_known) {
      out.fvalues = in.fvalues;
      out.fvalues_known = true;
    } else if (in.values_known) {
      out.fvalues.assign(in.values.begin(), in.values.end());
      out.fvalues_known = true;
    }
  }
}

void InferConstant(NodeCtx& c) {
  const OnnxNode& n = c.node;
  if (const OnnxAttribute* a = n.FindAttribute("value"); a != nullptr && a->has_tensor) {
    c.SetOut(0, a->t_dtype, a->t_dims);
    if (!c.outputs.empty() && !a->t_int64_data.empty()) {
      c.Out(0).values = a->t_int64_data;
      c.Out(0).values_known = true;
    }
    if (!c.outputs.empty() && !a->t_float_data.empty()) {
      c.Out(0).fvalues = a->t_float_data;
      c.Out(0).fvalues_known = true;
    }
    if (!c.outputs.empty() && a->t_dtype == DType::kI64 &&
        SaturatingProduct(a->t_dims, 0, a->t_dims.size()) == 0) {
      c.Out(0).values_known = true;  // empty tensor: values trivially known
    }
  } else if (const OnnxAttribute* vi = n.FindAttribute("value_int")) {
    c.SetOut(0, DType::kI64, {});
    if (!c.outputs.empty()) c.Out(0).values = {vi->i}, c.Out(0).values_known = true;
  } else if (const OnnxAttribute* vis = n.FindAttribute("value_ints")) {
    c.SetOut(0, DType::kI64, {static_cast<int64_t>(vis->ints.size())});
    if (!c.outputs.empty()) c.Out(0).values = vis->ints, c.Out(0).values_known = true;
  } else if (const OnnxAttribute* vf = n.FindAttribute("value_float")) {
    c.SetOut(0, DType::kF32, {});
    if (!c.outputs.empty()) c.Out(0).fvalues = {vf->f}, c.Out(0).fvalues_known = true;
  } else if (const OnnxAttribute* vfs = n.FindAttribute("value_floats")) {
    c.SetOut(0, DType::kF32, {static_cast<int64_t>(vfs->floats.size())});
    if (!c.outputs.empty()) c.Out(0).fvalues = vfs->floats, c.Out(0).fvalues_known = true;
  } else {
    c.Note("constant without a supported value attribute");
  }
}

void InferUnknown(NodeCtx& c) {
  c.notes->push_back("op " + c.node.op_type + ": output shape assumed equal to input");
  for (size_t i = 0; i < c.outputs.size(); ++i) c.SameAs(i, 0);
}

}  // namespace

}  // namespace onnx_shapes

using namespace onnx_shapes;  // NOLINT: this file implements the namespace's entry point

Result<uint64_t> ShapeElements(const std::vector<int64_t>& shape) {
  auto n = ElementCount(shape);
  if (!n.ok()) return OutOfRange(n.status().message());
  return n;
}

bool IsOnnxViewOp(const std::string& op) {
  return op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
         op == "Identity" || op == "Dropout";
}

Status InferOnnxNode(const OnnxNode& node, const std::vector<const OnnxValue*>& inputs,
                     std::vector<OnnxValue>* outputs, std::vector<std::string>* notes) {
  outputs->assign(node.outputs.size(), OnnxValue{});
  if (outputs->empty()) return Status::Ok();  // rules may then use output 0 freely
  NodeCtx c{node, inputs, *outputs, notes};
  const std::string& op = node.op_type;
  if (!node.domain.empty() && node.domain != "ai.onnx" && node.domain != "com.microsoft") {
    InferUnknown(c);
  } else if (UnaryOps().count(op) || op == "Identity" || op == "Dropout" || op == "IsNaN" ||
             op == "IsInf" || op == "Not") {
    c.SameAs(0, 0);
    if (op == "IsNaN" || op == "IsInf" || op == "Not") c.Out(0).dtype = DType::kBool;
    if (op == "Identity" && c.Values(0) != nullptr) {
      c.Out(0).values = *c.Values(0), c.Out(0).values_known = true;
    }
    if (op == "Identity" && c.In(0) != nullptr && c.In(0)->fvalues_known) {
      c.Out(0).fvalues = c.In(0)->fvalues, c.Out(0).fvalues_known = true;
    }
    if (op == "Neg" && c.Values(0) != nullptr) {
      c.Out(0).values = *c.Values(0);
      for (auto& v : c.Out(0).values) v = v == INT64_MIN ? v : -v;
      c.Out(0).values_known = true;
    }
    if (op == "Dropout" && outputs->size() > 1) {
      c.SameAs(1, 0);
      (*outputs)[1].dtype = DType::kBool;
    }
  } else if (BroadcastOps().count(op)) {
    InferBroadcast(c);
  } else if (op == "Cast" || op == "CastLike") {
    InferCast(c);
  } else if (op == "Constant") {
    InferConstant(c);
  } else if (!InferTensorOp(c) && !InferNnOp(c)) {
    InferUnknown(c);
  }
  // Validate: a negative dim means inference went wrong (unknown shape); a dim or element
  // count above 2^53 is an absurd model, refused.
  for (size_t i = 0; i < outputs->size(); ++i) {
    OnnxValue& v = (*outputs)[i];
    if (!v.shape_known) {
      v.values_known = v.fvalues_known = false;
      continue;
    }
    if (v.shape.size() > 64) return OutOfRange(op + ": output rank above 64");
    bool negative = false;
    for (int64_t d : v.shape) {
      if (d > kMaxDim) return OutOfRange(op + ": output dim above 2^53");
      negative |= d < 0;
    }
    if (negative) {
      c.Note("inferred a negative dim; output shape unknown");
      OnnxValue unknown;
      unknown.dtype = v.dtype;
      v = std::move(unknown);
      continue;
    }
    MG_ASSIGN_OR_RETURN(uint64_t n, ShapeElements(v.shape));
    if (v.values_known && v.values.size() != n) v.values_known = false, v.values.clear();
    if (v.fvalues_known && v.fvalues.size() != n) v.fvalues_known = false, v.fvalues.clear();
  }
  return Status::Ok();
}

}  // namespace modelgrid
