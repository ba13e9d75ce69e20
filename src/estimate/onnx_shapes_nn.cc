// Shape rules for neural-network operators: convolution, pooling, normalisation, matrix
// products, resizing, padding, reductions and recurrent layers.
#include <algorithm>
#include <cmath>

#include "estimate/onnx_shapes_internal.h"

namespace modelgrid::onnx_shapes {

namespace {

int64_t Clamp(__int128 v) { return static_cast<int64_t>(std::clamp<__int128>(v, -1, kMaxDim + 1)); }

// Spatial output sizes of Conv and the pools. `kernel` has one entry per spatial dim.
bool SpatialOut(NodeCtx& c, const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                bool ceil_mode, std::vector<int64_t>* out) {
  size_t n = kernel.size();
  if (in.size() != n + 2) return false;
  std::vector<int64_t> strides = c.AttrInts("strides"), dil = c.AttrInts("dilations"),
                       pads = c.AttrInts("pads");
  if (strides.empty()) strides.assign(n, 1);
  if (dil.empty()) dil.assign(n, 1);
  if (pads.empty()) pads.assign(2 * n, 0);
  if (strides.size() != n || dil.size() != n || pads.size() != 2 * n) return false;
  std::string auto_pad = c.AttrString("auto_pad");
  for (size_t i = 0; i < n; ++i) {
    if (strides[i] <= 0 || dil[i] <= 0 || kernel[i] <= 0) return false;
    __int128 x = in[i + 2], s = strides[i];
    __int128 k = (__int128(kernel[i]) - 1) * dil[i] + 1;
    __int128 y;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      y = (x + s - 1) / s;
    } else if (auto_pad == "VALID") {
      y = x < k ? 0 : (x - k) / s + 1;
    } else {
      __int128 span = x + pads[i] + pads[i + n] - k;
      if (span < 0) return false;
      y = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      // A ceil-mode window must start inside the input or the left padding.
      if (ceil_mode && (y - 1) * s >= x + pads[i]) y -= 1;
    }
    out->push_back(Clamp(y));
  }
  return true;
}

void InferConv(NodeCtx& c, size_t x_index, size_t w_index) {
  if (!c.HasShape(x_index)) return c.Note("input shape unknown");
  const auto& x = c.Shape(x_index);
  if (x.size() < 3) return c.Note("input rank below 3");
  std::vector<int64_t> kernel = c.AttrInts("kernel_shape");
  int64_t out_channels = -1;
  if (c.HasShape(w_index) && c.Shape(w_index).size() == x.size()) {
    const auto& w = c.Shape(w_index);
    if (kernel.empty()) kernel.assign(w.begin() + 2, w.end());
    out_channels = w[0];
  }
  if (out_channels < 0 || kernel.empty()) return c.Note("weight shape unknown");
  std::vector<int64_t> out = {x[0], out_channels};
  if (!SpatialOut(c, x, kernel, false, &out)) return c.Note("bad kernel/strides/pads");
  DType dtype = c.node.op_type == "QLinearConv" ? c.InDType(7) : c.InDType(x_index);
  c.SetOut(0, dtype, out);
}

void InferConvTranspose(NodeCtx& c) {
  if (!c.HasShape(0) || !c.HasShape(1)) return c.Note("input or weight shape unknown");
  const auto& x = c.Shape(0);
  const auto& w = c.Shape(1);
  if (x.size() < 3 || w.size() != x.size()) return c.Note("bad ranks");
  size_t n = x.size() - 2;
  std::vector<int64_t> out = {x[0],
                              Clamp(__int128(w[1]) * std::max<int64_t>(1, c.AttrInt("group", 1)))};
  std::vector<int64_t> output_shape = c.AttrInts("output_shape");
  if (output_shape.size() == n) {
    out.insert(out.end(), output_shape.begin(), output_shape.end());
    return c.SetOut(0, c.InDType(0), out);
  }
  std::vector<int64_t> kernel = c.AttrInts("kernel_shape"), strides = c.AttrInts("strides"),
                       dil = c.AttrInts("dilations"), pads = c.AttrInts("pads"),
                       opad = c.AttrInts("output_padding");
  if (kernel.empty()) kernel.assign(w.begin() + 2, w.end());
  if (strides.empty()) strides.assign(n, 1);
  if (dil.empty()) dil.assign(n, 1);
  if (pads.empty()) pads.assign(2 * n, 0);
  if (opad.empty()) opad.assign(n, 0);
  if (kernel.size() != n || strides.size() != n || dil.size() != n || pads.size() != 2 * n ||
      opad.size() != n) {
    return c.Note("bad attributes");
  }
  std::string auto_pad = c.AttrString("auto_pad");
  for (size_t i = 0; i < n; ++i) {
    __int128 y;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      y = __int128(x[i + 2]) * strides[i];
    } else {
      y = __int128(strides[i]) * (x[i + 2] - 1) + opad[i] + (__int128(kernel[i]) - 1) * dil[i] + 1 -
          pads[i] - pads[i + n];
    }
    out.push_back(Clamp(y));
  }
  c.SetOut(0, c.InDType(0), out);
}

void InferPool(NodeCtx& c) {
  if (!c.HasShape(0)) return c.Note("input shape unknown");
  const auto& x = c.Shape(0);
  std::vector<int64_t> kernel = c.AttrInts("kernel_shape");
  if (x.size() < 3 || kernel.size() != x.size() - 2) return c.Note("bad kernel_shape");
  std::vector<int64_t> out = {x[0], x[1]};
  if (!SpatialOut(c, x, kernel, c.AttrInt("ceil_mode", 0) != 0, &out)) {
    return c.Note("bad kernel/strides/pads");
  }
  c.SetOut(0, c.InDType(0), out);
  c.SetOut(1, DType::kI64, out);  // MaxPool indices
}

void InferGemm(NodeCtx& c) {
  if (!c.HasShape(0) || !c.HasShape(1)) return c.Note("input shape unknown");
  const auto& a = c.Shape(0);
  const auto& b = c.Shape(1);
  if (a.size() != 2 || b.size() != 2) return c.Note("inputs are not matrices");
  int64_t m = c.AttrInt("transA", 0) ? a[1] : a[0];
  int64_t n = c.AttrInt("transB", 0) ? b[0] : b[1];
  c.SetOut(0, c.InDType(0), {m, n});
}

void InferMatMul(NodeCtx& c, size_t a_index, size_t b_index, DType dtype) {
  if (!c.HasShape(a_index) || !c.HasShape(b_index)) return c.Note("input shape unknown");
  std::vector<int64_t> a = c.Shape(a_index), b = c.Shape(b_index);
  if (a.empty() || b.empty()) return c.Note("scalar operand");
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2]) c.Note("inner dims differ");
  std::vector<int64_t> batch;
  if (!Broadcast(std::vector<int64_t>(a.begin(), a.end() - 2),
                 std::vector<int64_t>(b.begin(), b.end() - 2), &batch)) {
    return c.Note("batch dims cannot be broadcast");
  }
  if (!a_vec) batch.push_back(a[a.size() - 2]);
  if (!b_vec) batch.push_back(b.back());
  c.SetOut(0, dtype == DType::kUnknown ? c.InDType(a_index) : dtype, batch);
}

// Axes for reductions: attribute (older opsets) or input 1; empty means all.
void InferReduce(NodeCtx& c, bool arg) {
  if (!c.HasShape(0)) return c.Note("input shape unknown");
  const auto& x = c.Shape(0);
  int64_t rank = static_cast<int64_t>(x.size());
  bool keep = c.AttrInt("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  if (arg) {
    axes = {c.AttrInt("axis", 0)};
  } else if (!c.IntsFromInputOrAttr(1, "axes", &axes) && c.In(1) != nullptr) {
    return c.Note("axes not known at analysis time");
  }
  std::vector<bool> reduced(x.size(), axes.empty() && !c.AttrInt("noop_with_empty_axes", 0));
  for (int64_t a : axes) {
    int64_t n = 0;
    if (!NormalizeAxis(a, rank, &n)) return c.Note("bad axes");
    reduced[size_t(n)] = true;
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!reduced[i]) {
      out.push_back(x[i]);
    } else if (keep) {
      out.push_back(1);
    }
  }
  c.SetOut(0, arg ? DType::kI64 : c.InDType(0), out);
}

void InferNormalization(NodeCtx& c) {
  c.SameAs(0, 0);
  if (c.node.op_type != "LayerNormalization" || !c.HasShape(0)) return;
  // Mean and InvStdDev: the normalised axes collapse to 1.
  const auto& x = c.Shape(0);
  int64_t axis = 0;
  if (!NormalizeAxis(c.AttrInt("axis", -1), static_cast<int64_t>(x.size()), &axis)) return;
  std::vector<int64_t> stats(x.begin(), x.begin() + axis);
  stats.resize(x.size(), 1);
  c.SetOut(1, DType::kF32, stats);
  c.SetOut(2, DType::kF32, stats);
}

void InferResize(NodeCtx& c) {
  if (!c.HasShape(0)) return c.Note("input shape unknown");
  const auto& x = c.Shape(0);
  bool upsample = c.node.op_type == "Upsample";
  size_t scales_index = upsample ? 1 : 2, sizes_index = 3;
  if (const auto* sizes = c.Values(sizes_index); sizes != nullptr && !sizes->empty()) {
    if (sizes->size() != x.size()) return c.Note("sizes differ from rank");
    return c.SetOut(0, c.InDType(0), *sizes);
  }
  std::vector<double> scales;
  const OnnxValue* s = c.In(scales_index);
  if (s != nullptr && s->fvalues_known) {
    scales = s->fvalues;
  } else if (s == nullptr && c.HasAttr("scales")) {
    scales = c.node.FindAttribute("scales")->floats;
  }
  if (scales.size() != x.size()) return c.Note("scales/sizes not known at analysis time");
  std::vector<int64_t> out;
  for (size_t i = 0; i < x.size(); ++i) {
    double y = std::floor(static_cast<double>(x[i]) * scales[i]);
    if (!(y >= 0)) return c.Note("bad scales");
    out.push_back(y > double(kMaxDim) ? kMaxDim + 1 : static_cast<int64_t>(y));
  }
  c.SetOut(0, c.InDType(0), out);
}

void InferPad(NodeCtx& c) {
  if (!c.HasShape(0)) return c.Note("input shape unknown");
  const auto& x = c.Shape(0);
  std::vector<int64_t> pads, axes;
  if (!c.IntsFromInputOrAttr(1, "pads", &pads)) return c.Note("pads not known");
  if (c.In(3) != nullptr) {
    if (c.Values(3) == nullptr) return c.Note("axes not known");
    axes = *c.Values(3);
  } else {
    for (size_t i = 0; i < x.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (pads.size() != 2 * axes.size()) return c.Note("pads differ from rank");
  std::vector<int64_t> out = x;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = 0;
    if (!NormalizeAxis(axes[i], static_cast<int64_t>(x.size()), &a)) return c.Note("bad axes");
    out[size_t(a)] = Clamp(__int128(out[size_t(a)]) + pads[i] + pads[i + axes.size()]);
  }
  c.SetOut(0, c.InDType(0), out);
}

void InferRnn(NodeCtx& c) {
  if (!c.HasShape(0)) return c.Note("input shape unknown");
  const auto& x = c.Shape(0);
  if (x.size() != 3) return c.Note("input rank is not 3");
  int64_t hidden = c.AttrInt("hidden_size", -1);
  if (hidden < 0 && c.HasShape(2) && c.Shape(2).size() == 3) hidden = c.Shape(2)[2];
  if (hidden < 0) return c.Note("hidden_size unknown");
  int64_t dirs = c.AttrString("direction") == "bidirectional" ? 2 : 1;
  bool batch_first = c.AttrInt("layout", 0) != 0;
  int64_t seq = batch_first ? x[1] : x[0], batch = batch_first ? x[0] : x[1];
  DType t = c.InDType(0);
  if (batch_first) {
    c.SetOut(0, t, {batch, seq, dirs, hidden});
    c.SetOut(1, t, {batch, dirs, hidden});
    c.SetOut(2, t, {batch, dirs, hidden});
  } else {
    c.SetOut(0, t, {seq, dirs, batch, hidden});
    c.SetOut(1, t, {dirs, batch, hidden});
    c.SetOut(2, t, {dirs, batch, hidden});
  }
}

void InferSpaceDepth(NodeCtx& c, bool to_depth) {
  if (!c.HasShape(0) || c.Shape(0).size() != 4) return c.Note("input is not 4-D");
  auto x = c.Shape(0);
  int64_t b = c.AttrInt("blocksize", 0);
  if (b <= 0 || b > (int64_t{1} << 20)) return c.Note("bad blocksize");
  if (to_depth) {
    c.SetOut(0, c.InDType(0), {x[0], Clamp(__int128(x[1]) * b * b), x[2] / b, x[3] / b});
  } else {
    c.SetOut(0, c.InDType(0),
             {x[0], x[1] / (b * b), Clamp(__int128(x[2]) * b), Clamp(__int128(x[3]) * b)});
  }
}

void InferTopK(NodeCtx& c) {
  if (!c.HasShape(0)) return c.Note("input shape unknown");
  auto out = c.Shape(0);
  int64_t axis = 0;
  if (!NormalizeAxis(c.AttrInt("axis", -1), static_cast<int64_t>(out.size()), &axis)) {
    return c.Note("bad axis");
  }
  std::vector<int64_t> k;
  if (!c.IntsFromInputOrAttr(1, "k", &k)) {
    if (!c.HasAttr("k")) return c.Note("k not known at analysis time");
    k = {c.AttrInt("k", 0)};
  }
  if (k.size() != 1) return c.Note("bad k");
  out[size_t(axis)] = std::min(k[0], out[size_t(axis)]);
  c.SetOut(0, c.InDType(0), out);
  c.SetOut(1, DType::kI64, out);
}

void InferGatherNd(NodeCtx& c) {
  if (!c.HasShape(0) || !c.HasShape(1)) return c.Note("input shape unknown");
  const auto& data = c.Shape(0);
  const auto& idx = c.Shape(1);
  int64_t batch_dims = c.AttrInt("batch_dims", 0);
  if (idx.empty() || batch_dims < 0) return c.Note("bad indices");
  int64_t last = idx.back();
  if (last < 0 || batch_dims + last > static_cast<int64_t>(data.size())) {
    return c.Note("bad indices");
  }
  std::vector<int64_t> out(idx.begin(), idx.end() - 1);
  out.insert(out.end(), data.begin() + batch_dims + last, data.end());
  c.SetOut(0, c.InDType(0), out);
}

void InferOneHot(NodeCtx& c) {
  const auto* depth = c.Values(1);
  if (!c.HasShape(0) || depth == nullptr || depth->size() != 1) {
    return c.Note("depth not known at analysis time");
  }
  auto out = c.Shape(0);
  int64_t axis = 0;
  if (!NormalizeAxis(c.AttrInt("axis", -1), static_cast<int64_t>(out.size()) + 1, &axis)) {
    return c.Note("bad axis");
  }
  out.insert(out.begin() + axis, (*depth)[0]);
  c.SetOut(0, c.InDType(2), out);
}

}  // namespace

bool InferNnOp(NodeCtx& c) {
  const std::string& op = c.node.op_type;
  if (op == "Conv" || op == "ConvInteger") {
    InferConv(c, 0, 1);
    if (op == "ConvInteger" && !c.outputs.empty()) c.Out(0).dtype = DType::kI32;
  } else if (op == "QLinearConv") {
    InferConv(c, 0, 3);
  } else if (op == "ConvTranspose") {
    InferConvTranspose(c);
  } else if (op == "MaxPool" || op == "AveragePool" || op == "LpPool") {
    InferPool(c);
  } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool" || op == "GlobalLpPool") {
    if (!c.HasShape(0) || c.Shape(0).size() < 2) return c.Note("input shape unknown"), true;
    std::vector<int64_t> out = c.Shape(0);
    std::fill(out.begin() + 2, out.end(), 1);
    c.SetOut(0, c.InDType(0), out);
  } else if (op == "BatchNormalization" || op == "LayerNormalization" ||
             op == "SimplifiedLayerNormalization" || op == "SkipLayerNormalization") {
    InferNormalization(c);
  } else if (op == "Gemm") {
    InferGemm(c);
  } else if (op == "MatMul" || op == "FusedMatMul") {
    InferMatMul(c, 0, 1, DType::kUnknown);
  } else if (op == "MatMulInteger") {
    InferMatMul(c, 0, 1, DType::kI32);
  } else if (op == "QLinearMatMul") {
    InferMatMul(c, 0, 3, c.InDType(7));
  } else if (op.rfind("Reduce", 0) == 0) {
    InferReduce(c, false);
  } else if (op == "ArgMax" || op == "ArgMin") {
    InferReduce(c, true);
  } else if (op == "Resize" || op == "Upsample") {
    InferResize(c);
  } else if (op == "Pad") {
    InferPad(c);
  } else if (op == "LSTM" || op == "GRU" || op == "RNN") {
    InferRnn(c);
  } else if (op == "DepthToSpace" || op == "SpaceToDepth") {
    InferSpaceDepth(c, op == "SpaceToDepth");
  } else if (op == "TopK") {
    InferTopK(c);
  } else if (op == "GatherND") {
    InferGatherNd(c);
  } else if (op == "OneHot") {
    InferOneHot(c);
  } else if (op == "NonZero") {
    // Data-dependent: bounded above by every element being non-zero.
    if (!c.HasShape(0)) return c.Note("input shape unknown"), true;
    const auto& x = c.Shape(0);
    c.SetOut(0, DType::kI64, {static_cast<int64_t>(x.size()), SaturatingProduct(x, 0, x.size())});
    c.Note("output size assumed to be every element (upper bound)");
  } else if (op == "QuantizeLinear") {
    c.SameAs(0, 0);
    if (!c.outputs.empty()) c.Out(0).dtype = c.In(2) ? c.InDType(2) : DType::kU8;
  } else if (op == "DequantizeLinear") {
    c.SameAs(0, 0);
    if (!c.outputs.empty()) c.Out(0).dtype = DType::kF32;
  } else {
    return false;
  }
  return true;
}

}  // namespace modelgrid::onnx_shapes
