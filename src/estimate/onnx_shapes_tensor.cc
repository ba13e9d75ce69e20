// Shape and small-value rules for tensor-shaping operators: Shape, Reshape, Flatten,
// Squeeze/Unsqueeze, Transpose, Concat, Split, Slice, Gather, ConstantOfShape, Expand,
// Tile and Range. Values are tracked so that shape-computing subgraphs resolve.
#include <algorithm>
#include <cmath>

#include "estimate/onnx_shapes_internal.h"

namespace modelgrid::onnx_shapes {

namespace {

void InferShapeOp(NodeCtx& c) {
  if (!c.HasShape(0)) return;
  const auto& s = c.Shape(0);
  int64_t rank = static_cast<int64_t>(s.size());
  int64_t start = std::clamp<int64_t>(c.AttrInt("start", 0), -rank, rank);
  int64_t end = std::clamp<int64_t>(c.AttrInt("end", rank), -rank, rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(s[static_cast<size_t>(i)]);
  c.SetOut(0, DType::kI64, {static_cast<int64_t>(dims.size())});
  if (c.outputs.empty()) return;
  c.Out(0).values = std::move(dims);
  c.Out(0).values_known = true;
}

void InferReshape(NodeCtx& c) {
  const auto* target = c.Values(1);
  if (target == nullptr && c.In(1) == nullptr && c.HasAttr("shape")) {
    static thread_local std::vector<int64_t> attr;
    attr = c.AttrInts("shape");
    target = &attr;
  }
  if (!c.HasShape(0) || target == nullptr) {
    c.Note("target shape not known at analysis time; output shape unknown");
    return;
  }
  const auto& in = c.Shape(0);
  bool allow_zero = c.AttrInt("allowzero", 0) != 0;
  std::vector<int64_t> out(target->size());
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < target->size(); ++i) {
    int64_t d = (*target)[i];
    if (d == 0 && !allow_zero) {
      if (i >= in.size()) return c.Note("0 in target shape past the input rank");
      d = in[i];
    }
    if (d == -1) {
      if (infer_at >= 0) return c.Note("more than one -1 in target shape");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < 0 || d > kMaxDim) return c.Note("invalid target dim");
    out[i] = d;
    known = SaturatingProduct({known, d}, 0, 2);
  }
  int64_t total = SaturatingProduct(in, 0, in.size());
  if (infer_at >= 0) {
    if (known == 0 || total < 0 || total > kMaxDim || total % known != 0) {
      return c.Note("cannot infer the -1 dim");
    }
    out[static_cast<size_t>(infer_at)] = total / known;
  } else if (known != total) {
    return c.Note("target shape does not match the element count");
  }
  c.SetOut(0, c.InDType(0), out);
  if (const auto* v = c.Values(0)) c.Out(0).values = *v, c.Out(0).values_known = true;
}

void InferFlatten(NodeCtx& c) {
  if (!c.HasShape(0)) return;
  const auto& s = c.Shape(0);
  int64_t rank = static_cast<int64_t>(s.size()), axis = c.AttrInt("axis", 1);
  if (axis < 0) axis += rank;  // axis is in [-rank, rank]
  if (axis < 0 || axis > rank) return c.Note("bad axis");
  auto a = static_cast<size_t>(axis);
  c.SetOut(0, c.InDType(0), {SaturatingProduct(s, 0, a), SaturatingProduct(s, a, s.size())});
}

void InferSqueezeUnsqueeze(NodeCtx& c, bool unsqueeze) {
  if (!c.HasShape(0)) return;
  const auto& s = c.Shape(0);
  std::vector<int64_t> axes;
  bool has_axes = c.IntsFromInputOrAttr(1, "axes", &axes);
  if (!has_axes && (unsqueeze || c.In(1) != nullptr)) return c.Note("axes not known");
  int64_t rank = static_cast<int64_t>(s.size());
  std::vector<int64_t> out;
  if (unsqueeze) {
    int64_t out_rank = rank + static_cast<int64_t>(axes.size());
    if (out_rank > 64) return c.Note("rank above 64");
    std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
    for (int64_t a : axes) {
      int64_t n = 0;
      if (!NormalizeAxis(a, out_rank, &n) || inserted[static_cast<size_t>(n)]) {
        return c.Note("bad axes");
      }
      inserted[static_cast<size_t>(n)] = true;
    }
    size_t k = 0;
    for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[size_t(i)] ? 1 : s[k++]);
  } else {
    std::vector<bool> removed(s.size(), !has_axes);
    for (int64_t a : axes) {
      int64_t n = 0;
      if (!NormalizeAxis(a, rank, &n)) return c.Note("bad axes");
      removed[static_cast<size_t>(n)] = true;
    }
    for (size_t i = 0; i < s.size(); ++i) {
      if (!removed[i] || s[i] != 1) out.push_back(s[i]);
    }
  }
  c.SetOut(0, c.InDType(0), out);
  if (const auto* v = c.Values(0)) c.Out(0).values = *v, c.Out(0).values_known = true;
}

void InferTranspose(NodeCtx& c) {
  if (!c.HasShape(0)) return;
  const auto& s = c.Shape(0);
  std::vector<int64_t> perm = c.AttrInts("perm");
  if (perm.empty()) {
    for (size_t i = s.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  }
  if (perm.size() != s.size()) return c.Note("perm does not match the rank");
  std::vector<int64_t> out;
  std::vector<bool> used(s.size(), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(s.size()) || used[size_t(p)]) return c.Note("bad perm");
    used[size_t(p)] = true;
    out.push_back(s[static_cast<size_t>(p)]);
  }
  c.SetOut(0, c.InDType(0), out);
}

void InferConcat(NodeCtx& c) {
  std::vector<int64_t> out;
  int64_t axis = 0;
  bool all_values = true;
  std::vector<int64_t> values;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.HasShape(i)) return c.Note("input shape unknown");
    const auto& s = c.Shape(i);
    if (i == 0) {
      if (!NormalizeAxis(c.AttrInt("axis", 0), static_cast<int64_t>(s.size()), &axis)) {
        return c.Note("bad axis");
      }
      out = s;
    } else {
      if (s.size() != out.size()) return c.Note("inputs differ in rank");
      out[size_t(axis)] = std::min(out[size_t(axis)] + s[size_t(axis)], kMaxDim + 1);
    }
    if (const auto* v = c.Values(i)) {
      values.insert(values.end(), v->begin(), v->end());
    } else {
      all_values = false;
    }
  }
  if (c.inputs.empty()) return;
  c.SetOut(0, c.InDType(0), out);
  if (all_values && out.size() == 1 && !c.outputs.empty()) {
    c.Out(0).values = std::move(values);
    c.Out(0).values_known = true;
  }
}

void InferSplit(NodeCtx& c) {
  if (!c.HasShape(0)) return;
  const auto& s = c.Shape(0);
  int64_t axis = 0;
  if (!NormalizeAxis(c.AttrInt("axis", 0), static_cast<int64_t>(s.size()), &axis)) {
    return c.Note("bad axis");
  }
  std::vector<int64_t> split;
  int64_t n = static_cast<int64_t>(c.outputs.size()), dim = s[size_t(axis)];
  if (n == 0) return;
  if (!c.IntsFromInputOrAttr(1, "split", &split)) {
    for (int64_t i = 0; i < n; ++i) split.push_back((dim + n - 1) / n);
    split.back() = dim - (n - 1) * ((dim + n - 1) / n);
  }
  if (split.size() != c.outputs.size()) return c.Note("split count differs from outputs");
  for (size_t i = 0; i < split.size(); ++i) {
    auto shape = s;
    shape[size_t(axis)] = split[i];
    c.SetOut(i, c.InDType(0), shape);
  }
}

void InferSlice(NodeCtx& c) {
  if (!c.HasShape(0)) return;
  const auto& s = c.Shape(0);
  std::vector<int64_t> starts, ends, axes, steps;
  bool attrs = c.In(1) == nullptr && c.HasAttr("starts");
  if (attrs) {
    starts = c.AttrInts("starts");
    ends = c.AttrInts("ends");
    axes = c.AttrInts("axes");
  } else if (c.Values(1) == nullptr || c.Values(2) == nullptr ||
             (c.In(3) != nullptr && c.Values(3) == nullptr) ||
             (c.In(4) != nullptr && c.Values(4) == nullptr)) {
    return c.Note("starts/ends not known at analysis time; output shape unknown");
  } else {
    starts = *c.Values(1);
    ends = *c.Values(2);
    if (c.Values(3) != nullptr) axes = *c.Values(3);
    if (c.Values(4) != nullptr) steps = *c.Values(4);
  }
  int64_t rank = static_cast<int64_t>(s.size());
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return c.Note("starts/ends/axes/steps differ in length");
  }
  std::vector<int64_t> out = s;
  std::vector<int64_t> first(s.size(), 0), step(s.size(), 1);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = 0;
    if (!NormalizeAxis(axes[i], rank, &a) || steps[i] == 0) return c.Note("bad axes or steps");
    int64_t dim = s[size_t(a)], st = steps[i];
    __int128 b = starts[i], e = ends[i], len = 0;
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    if (dim == 0) {
      b = 0;
    } else if (st > 0) {
      b = std::clamp<__int128>(b, 0, dim);
      e = std::clamp<__int128>(e, 0, dim);
      len = (e - b + st - 1) / st;
    } else {
      b = std::clamp<__int128>(b, 0, dim - 1);
      e = std::clamp<__int128>(e, -1, dim - 1);
      len = (b - e + (-__int128(st)) - 1) / -__int128(st);
    }
    out[size_t(a)] = static_cast<int64_t>(std::max<__int128>(len, 0));
    first[size_t(a)] = static_cast<int64_t>(b);
    step[size_t(a)] = st;
  }
  c.SetOut(0, c.InDType(0), out);
  const auto* v = c.Values(0);
  if (v != nullptr && s.size() == 1 && !c.outputs.empty()) {
    std::vector<int64_t> values;
    for (int64_t k = 0; k < out[0]; ++k) {
      int64_t idx = first[0] + k * step[0];
      if (idx < 0 || idx >= static_cast<int64_t>(v->size())) return;
      values.push_back((*v)[size_t(idx)]);
    }
    c.Out(0).values = std::move(values);
    c.Out(0).values_known = true;
  }
}

void InferGather(NodeCtx& c) {
  if (!c.HasShape(0) || !c.HasShape(1)) return c.Note("input shape unknown");
  const auto& data = c.Shape(0);
  const auto& idx = c.Shape(1);
  int64_t axis = 0;
  if (!NormalizeAxis(c.AttrInt("axis", 0), static_cast<int64_t>(data.size()), &axis)) {
    return c.Note("bad axis");
  }
  std::vector<int64_t> out(data.begin(), data.begin() + axis);
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  c.SetOut(0, c.InDType(0), out);
  const auto* dv = c.Values(0);
  const auto* iv = c.Values(1);
  if (dv != nullptr && iv != nullptr && data.size() == 1 && !c.outputs.empty()) {
    std::vector<int64_t> values;
    int64_t n = static_cast<int64_t>(dv->size());
    for (int64_t i : *iv) {
      if (i < -n || i >= n) return;
      values.push_back((*dv)[size_t(i < 0 ? i + n : i)]);
    }
    c.Out(0).values = std::move(values);
    c.Out(0).values_known = true;
  }
}

void InferConstantOfShape(NodeCtx& c) {
  const auto* shape = c.Values(0);
  if (shape == nullptr) return c.Note("shape not known at analysis time; output unknown");
  DType dtype = DType::kF32;
  int64_t fill = 0;
  const OnnxAttribute* a = c.node.FindAttribute("value");
  if (a != nullptr && a->has_tensor) {
    dtype = a->t_dtype;
    if (!a->t_int64_data.empty()) fill = a->t_int64_data[0];
  }
  c.SetOut(0, dtype, *shape);
  int64_t n = SaturatingProduct(*shape, 0, shape->size());
  if (IsIntegral(dtype) && n >= 0 && n <= int64_t(kMaxKnownValues) && !c.outputs.empty()) {
    c.Out(0).values.assign(size_t(n), fill);
    c.Out(0).values_known = true;
  }
}

void InferExpandOrTile(NodeCtx& c, bool tile) {
  const auto* arg = c.Values(1);
  if (!c.HasShape(0) || arg == nullptr) return c.Note("shape not known at analysis time");
  std::vector<int64_t> out;
  if (tile) {
    if (arg->size() != c.Shape(0).size()) return c.Note("repeats differ from rank");
    for (size_t i = 0; i < arg->size(); ++i) {
      out.push_back(SaturatingProduct({c.Shape(0)[i], (*arg)[i]}, 0, 2));
    }
  } else if (!Broadcast(c.Shape(0), *arg, &out)) {
    return c.Note("shape cannot be broadcast");
  }
  c.SetOut(0, c.InDType(0), out);
}

void InferRange(NodeCtx& c) {
  const auto *s = c.Values(0), *l = c.Values(1), *d = c.Values(2);
  if (s && l && d && s->size() == 1 && l->size() == 1 && d->size() == 1 && (*d)[0] != 0) {
    __int128 span = __int128((*l)[0]) - (*s)[0], step = (*d)[0];
    __int128 n = span / step + ((span % step != 0 && (span > 0) == (step > 0)) ? 1 : 0);
    n = std::clamp<__int128>(n, 0, kMaxDim + 1);
    c.SetOut(0, c.InDType(0), {static_cast<int64_t>(n)});
    if (n <= __int128(kMaxKnownValues) && !c.outputs.empty()) {
      for (int64_t k = 0; k < int64_t(n); ++k) c.Out(0).values.push_back((*s)[0] + k * (*d)[0]);
      c.Out(0).values_known = true;
    }
    return;
  }
  const OnnxValue *fs = c.In(0), *fl = c.In(1), *fd = c.In(2);
  if (fs && fl && fd && fs->fvalues_known && fl->fvalues_known && fd->fvalues_known &&
      fs->fvalues.size() == 1 && fl->fvalues.size() == 1 && fd->fvalues.size() == 1 &&
      fd->fvalues[0] != 0) {
    double n = std::ceil((fl->fvalues[0] - fs->fvalues[0]) / fd->fvalues[0]);
    if (!(n >= 0)) n = 0;
    c.SetOut(0, c.InDType(0), {static_cast<int64_t>(std::min(n, double(kMaxDim + 1)))});
    return;
  }
  c.Note("bounds not known at analysis time; output unknown");
}

}  // namespace

bool InferTensorOp(NodeCtx& c) {
  const std::string& op = c.node.op_type;
  if (op == "Shape") {
    InferShapeOp(c);
  } else if (op == "Size") {
    if (c.HasShape(0)) {
      c.SetOut(0, DType::kI64, {});
      if (!c.outputs.empty()) {
        c.Out(0).values = {SaturatingProduct(c.Shape(0), 0, c.Shape(0).size())};
        c.Out(0).values_known = true;
      }
    }
  } else if (op == "Reshape") {
    InferReshape(c);
  } else if (op == "Flatten") {
    InferFlatten(c);
  } else if (op == "Squeeze" || op == "Unsqueeze") {
    InferSqueezeUnsqueeze(c, op == "Unsqueeze");
  } else if (op == "Transpose") {
    InferTranspose(c);
  } else if (op == "Concat") {
    InferConcat(c);
  } else if (op == "Split") {
    InferSplit(c);
  } else if (op == "Slice") {
    InferSlice(c);
  } else if (op == "Gather") {
    InferGather(c);
  } else if (op == "GatherElements") {
    if (c.HasShape(1)) c.SetOut(0, c.InDType(0), c.Shape(1));
  } else if (op == "ConstantOfShape") {
    InferConstantOfShape(c);
  } else if (op == "Expand" || op == "Tile") {
    InferExpandOrTile(c, op == "Tile");
  } else if (op == "Range") {
    InferRange(c);
  } else {
    return false;
  }
  return true;
}

}  // namespace modelgrid::onnx_shapes
