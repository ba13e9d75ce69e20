#include "estimate/onnx_activations.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "estimate/onnx_shapes.h"

namespace modelgrid {

namespace {

constexpr int kNoStorage = -1;

// One device buffer: a graph input or a node output, shared by the views of it.
struct Storage {
  int64_t owner = -1;     // node that allocates it; -1 for graph inputs
  int64_t last_use = -1;  // last node reading it (directly or through a view)
  bool pinned = false;    // a graph output (or a view of one): lives to the end
  bool allocated = false;
  bool freed = false;
  uint32_t trace_id = 0;
};

// Pass 1: which buffer each node input and output refers to, and the buffers' lifetimes.
// Views share their input's buffer; initializers have none (weights are counted apart).
struct Plan {
  std::vector<Storage> storages;
  std::vector<int> input_storage;                  // per graph input
  std::vector<std::vector<int>> node_out_storage;  // per node, per output
  std::vector<std::vector<int>> frees_after;       // per node: storages to free after it
};

Plan MakePlan(const OnnxModel& model) {
  Plan plan;
  std::unordered_map<std::string, int> by_name;
  for (const auto& in : model.inputs) {
    plan.input_storage.push_back(static_cast<int>(plan.storages.size()));
    by_name[in.name] = static_cast<int>(plan.storages.size());
    plan.storages.push_back({});
  }
  for (const auto& t : model.initializers) by_name[t.name] = kNoStorage;
  auto lookup = [&](const std::string& name) {
    auto it = by_name.find(name);
    return it == by_name.end() ? kNoStorage : it->second;
  };
  plan.node_out_storage.resize(model.nodes.size());
  for (size_t i = 0; i < model.nodes.size(); ++i) {
    const OnnxNode& node = model.nodes[i];
    for (const auto& name : node.inputs) {
      int s = name.empty() ? kNoStorage : lookup(name);
      if (s != kNoStorage) {
        plan.storages[size_t(s)].last_use =
            std::max(plan.storages[size_t(s)].last_use, static_cast<int64_t>(i));
      }
    }
    bool view = IsOnnxViewOp(node.op_type);
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      int s = kNoStorage;
      if (view && k == 0) {
        s = node.inputs.empty() || node.inputs[0].empty() ? kNoStorage : lookup(node.inputs[0]);
      } else if (!node.outputs[k].empty()) {
        s = static_cast<int>(plan.storages.size());
        Storage st;
        st.owner = static_cast<int64_t>(i);
        plan.storages.push_back(st);
      }
      plan.node_out_storage[i].push_back(s);
      if (!node.outputs[k].empty()) by_name[node.outputs[k]] = s;
    }
  }
  for (const auto& out : model.outputs) {
    int s = lookup(out.name);
    if (s != kNoStorage) plan.storages[size_t(s)].pinned = true;
  }
  plan.frees_after.resize(model.nodes.size());
  for (size_t s = 0; s < plan.storages.size(); ++s) {
    const Storage& st = plan.storages[s];
    if (st.pinned) continue;
    // Unused outputs die with the node that made them.
    int64_t at = std::max(st.last_use, st.owner);
    if (at >= 0) plan.frees_after[size_t(at)].push_back(static_cast<int>(s));
  }
  return plan;
}

uint64_t ValueBytes(const OnnxValue& v, const OnnxTraceOptions& options) {
  if (!v.shape_known) return 0;
  auto n = ShapeElements(v.shape);
  if (!n.ok()) return 0;
  uint32_t size = (v.dtype == DType::kUnknown || IsFloating(v.dtype)) ? options.activation_bytes
                                                                      : DTypeSize(v.dtype);
  return *n * size;  // n <= 2^53 and size <= 16: no overflow
}

bool IsIntegerInput(DType t) { return t != DType::kUnknown && !IsFloating(t); }

// Concrete shapes of the graph inputs, with the batch and sequence substituted.
Status ResolveInputs(const OnnxModel& model, const OnnxTraceOptions& options,
                     std::unordered_map<std::string, OnnxValue>* values,
                     std::vector<std::string>* notes) {
  std::map<std::string, int64_t> params;
  bool any_batch = false;
  for (size_t idx = 0; idx < model.inputs.size(); ++idx) {
    const OnnxValueInfo& in = model.inputs[idx];
    OnnxValue v;
    v.dtype = in.dtype;
    v.shape_known = true;
    if (idx < options.input_shapes.size()) {
      v.shape.push_back(options.batch);
      for (int64_t d : options.input_shapes[idx]) v.shape.push_back(d < 0 ? options.sequence : d);
      any_batch = true;
    } else if (!in.has_shape) {
      return InvalidArgument("graph input " + in.name + " has no shape; give input_shapes");
    } else {
      bool batch_done = false;
      for (const OnnxDim& d : in.shape) {
        if (d.value >= 0) {
          v.shape.push_back(d.value);
          continue;
        }
        if (!batch_done) {
          batch_done = any_batch = true;
          v.shape.push_back(options.batch);
          if (!d.param.empty()) params.emplace(d.param, options.batch);
          continue;
        }
        if (auto it = params.find(d.param); !d.param.empty() && it != params.end()) {
          v.shape.push_back(it->second);
          continue;
        }
        if (!IsIntegerInput(in.dtype)) {
          notes->push_back("input " + in.name + ": symbolic dim '" + d.param +
                           "' set to the sequence length");
        }
        v.shape.push_back(options.sequence);
        if (!d.param.empty()) params.emplace(d.param, options.sequence);
      }
    }
    auto n = ShapeElements(v.shape);
    if (!n.ok()) return n.status().WithContext("graph input " + in.name);
    (*values)[in.name] = std::move(v);
  }
  if (!any_batch && !model.inputs.empty()) {
    notes->push_back("graph inputs have no symbolic batch dim: the batch is fixed by the model");
  }
  return Status::Ok();
}

bool IsConv(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "QLinearConv" || op == "ConvInteger";
}
bool IsMatMul(const std::string& op) {
  return op == "MatMul" || op == "Gemm" || op == "MatMulInteger" || op == "QLinearMatMul" ||
         op == "FusedMatMul";
}

bool IsScoreElementwise(const std::string& op) {
  return op == "Div" || op == "Mul" || op == "Add" || op == "Where" || op == "Cast";
}

// Nodes inside an attention pattern MatMul -> [Div|Mul|Add|Where|Cast]* -> Softmax ->
// MatMul. Runtimes run these as one fused kernel (PyTorch SDPA, ONNX Runtime's
// attention fusion), so the scores and probabilities are never materialised.
std::vector<bool> FusedAttentionNodes(const OnnxModel& model) {
  std::unordered_map<std::string, size_t> producer;
  std::unordered_map<std::string, std::vector<size_t>> consumers;
  for (size_t i = 0; i < model.nodes.size(); ++i) {
    for (const auto& out : model.nodes[i].outputs) producer[out] = i;
    for (const auto& in : model.nodes[i].inputs) consumers[in].push_back(i);
  }
  std::vector<bool> fused(model.nodes.size(), false);
  for (size_t i = 0; i < model.nodes.size(); ++i) {
    const OnnxNode& softmax = model.nodes[i];
    if (softmax.op_type != "Softmax" || softmax.inputs.empty() || softmax.outputs.empty()) continue;
    const auto& users = consumers[softmax.outputs[0]];
    if (users.size() != 1 || model.nodes[users[0]].op_type != "MatMul") continue;
    std::vector<size_t> chain = {i};
    std::string value = softmax.inputs[0];
    bool found = false;
    for (int depth = 0; depth < 6; ++depth) {
      auto it = producer.find(value);
      if (it == producer.end()) break;
      const OnnxNode& n = model.nodes[it->second];
      if (consumers[value].size() != 1) break;  // the scores are used elsewhere
      chain.push_back(it->second);
      if (n.op_type == "MatMul") {
        found = true;
        break;
      }
      if (!IsScoreElementwise(n.op_type) || n.inputs.empty()) break;
      value = n.inputs[0];
    }
    if (!found) continue;
    for (size_t n : chain) fused[n] = true;
  }
  return fused;
}

}  // namespace

Result<OnnxActivationResult> BuildOnnxActivationTrace(const OnnxModel& model,
                                                      const OnnxTraceOptions& options) {
  if (options.batch <= 0 || options.sequence <= 0 || options.activation_bytes == 0) {
    return InvalidArgument("batch, sequence and activation_bytes must be positive");
  }
  OnnxActivationResult result;
  std::vector<std::string> notes;
  std::unordered_map<std::string, OnnxValue> values;
  for (const auto& t : model.initializers) {
    OnnxValue v;
    v.dtype = t.dtype;
    v.shape = t.shape;
    v.shape_known = true;
    if (auto it = model.small_int64_initializers.find(t.name);
        it != model.small_int64_initializers.end() && it->second.size() == t.elements) {
      v.values = it->second;
      v.values_known = true;
    }
    if (auto it = model.small_float_initializers.find(t.name);
        it != model.small_float_initializers.end() && it->second.size() == t.elements) {
      v.fvalues = it->second;
      v.fvalues_known = true;
    }
    values[t.name] = std::move(v);
  }
  MG_RETURN_IF_ERROR(ResolveInputs(model, options, &values, &notes));

  Plan plan = MakePlan(model);
  AllocationTrace& trace = result.trace;
  auto free_storage = [&](int s) {
    Storage& st = plan.storages[size_t(s)];
    if (st.allocated && !st.freed && !st.pinned) {
      trace.Free(st.trace_id);
      st.freed = true;
    }
  };
  for (size_t i = 0; i < model.inputs.size(); ++i) {
    Storage& st = plan.storages[size_t(plan.input_storage[i])];
    st.trace_id = trace.Alloc(ValueBytes(values[model.inputs[i].name], options));
    st.allocated = true;
  }
  for (size_t i = 0; i < model.inputs.size(); ++i) {
    if (plan.storages[size_t(plan.input_storage[i])].last_use < 0) {
      free_storage(plan.input_storage[i]);
    }
  }

  const std::vector<bool> fused =
      options.fuse_attention ? FusedAttentionNodes(model) : std::vector<bool>(model.nodes.size());
  if (std::find(fused.begin(), fused.end(), true) != fused.end()) {
    notes.push_back("attention (MatMul, Softmax, MatMul) runs fused: scores are not materialised");
  }
  std::vector<const OnnxValue*> inputs;
  std::vector<OnnxValue> outputs;
  std::set<std::string> unknown_shape_ops;
  for (size_t i = 0; i < model.nodes.size(); ++i) {
    const OnnxNode& node = model.nodes[i];
    inputs.clear();
    for (const auto& name : node.inputs) {
      auto it = name.empty() ? values.end() : values.find(name);
      inputs.push_back(it == values.end() ? nullptr : &it->second);
    }
    Status st = InferOnnxNode(node, inputs, &outputs, &notes);
    if (!st.ok()) return st.WithContext("node " + std::to_string(i) + " (" + node.name + ")");
    for (size_t k = 0; k < outputs.size(); ++k) {
      int s = plan.node_out_storage[i][k];
      if (!outputs[k].shape_known && !node.outputs[k].empty() &&
          unknown_shape_ops.insert(node.op_type).second) {
        notes.push_back("op " + node.op_type + ": some output shapes unknown, counted as 0 bytes");
      }
      if (s != kNoStorage && plan.storages[size_t(s)].owner == static_cast<int64_t>(i) &&
          !fused[i]) {
        uint64_t bytes = ValueBytes(outputs[k], options);
        Storage& storage = plan.storages[size_t(s)];
        storage.trace_id = trace.Alloc(bytes);
        storage.allocated = true;
        if (IsConv(node.op_type) && k == 0) {
          result.largest_conv_output_bytes = std::max(result.largest_conv_output_bytes, bytes);
          if (options.conv_workspace_fraction > 0 && bytes > 0) {
            // cuDNN takes a workspace for the convolution while its output is live.
            trace.Free(trace.Alloc(static_cast<uint64_t>(static_cast<double>(bytes) *
                                                         options.conv_workspace_fraction)));
          }
        }
      }
    }
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (!node.outputs[k].empty()) values[node.outputs[k]] = std::move(outputs[k]);
    }
    for (int s : plan.frees_after[i]) free_storage(s);
    if (IsConv(node.op_type)) ++result.conv_count;
    if (IsMatMul(node.op_type)) ++result.matmul_count;
  }
  result.peak_live_bytes = trace.PeakLiveBytes();

  std::set<std::string> seen;
  for (auto& n : model.notes) {
    if (seen.insert(n).second) result.assumptions.push_back(n);
  }
  for (auto& n : notes) {
    if (seen.insert(n).second) result.assumptions.push_back(std::move(n));
  }
  return result;
}

}  // namespace modelgrid
