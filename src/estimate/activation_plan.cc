#include "estimate/activation_plan.h"

#include <filesystem>
#include <map>

#include "common/byte_reader.h"
#include "estimate/calibration.h"
#include "estimate/dry_run.h"
#include "estimate/onnx_activations.h"
#include "estimate/transformer_activations.h"
#include "formats/hf_config.h"

namespace modelgrid {

namespace {

// Input shapes without batch: explicit ones first, then the Triton config's.
std::vector<std::vector<int64_t>> InputShapes(const ActivationPlanInput& in) {
  if (!in.input_shapes.empty()) return in.input_shapes;
  std::vector<std::vector<int64_t>> shapes;
  if (in.model.triton) {
    // Variable dims (-1) take the sequence length.
    for (const auto& t : in.model.triton->inputs) {
      std::vector<int64_t> dims = t.dims;
      for (int64_t& d : dims) d = d < 0 ? in.sequence : d;
      shapes.push_back(dims);
    }
  }
  return shapes;
}

// The dry run's name of a Triton input type (DryRunOptions::input_dtypes), or "" for types
// it cannot build a tensor of.
std::string DryRunDTypeOf(const std::string& triton_type) {
  static const std::map<std::string, std::string> kNames = {
      {"TYPE_FP32", "float32"}, {"TYPE_FP16", "float16"}, {"TYPE_BF16", "bfloat16"},
      {"TYPE_FP64", "float64"}, {"TYPE_INT64", "int64"},  {"TYPE_INT32", "int32"},
      {"TYPE_INT16", "int16"},  {"TYPE_INT8", "int8"},    {"TYPE_UINT8", "uint8"},
      {"TYPE_BOOL", "bool"}};
  auto it = kNames.find(triton_type);
  return it == kNames.end() ? "" : it->second;
}

// The declared type of every Triton input; empty without a Triton config, or when explicit
// input shapes do not pair with its inputs (the dry run then feeds floats in the module's
// own type).
Result<std::vector<std::string>> InputDTypes(const ActivationPlanInput& in) {
  std::vector<std::string> dtypes;
  const bool paired = in.input_shapes.empty() ||
                      (in.model.triton && in.input_shapes.size() == in.model.triton->inputs.size());
  if (in.model.triton && paired) {
    for (const auto& t : in.model.triton->inputs) {
      std::string dtype = DryRunDTypeOf(t.data_type);
      if (dtype.empty()) {
        return Unsupported("input '" + t.name + "' is " + t.data_type +
                           ": a TorchScript dry run feeds TYPE_FP32, TYPE_FP16, TYPE_BF16, "
                           "TYPE_FP64, TYPE_INT64, TYPE_INT32, TYPE_INT16, TYPE_INT8, "
                           "TYPE_UINT8 or TYPE_BOOL inputs");
      }
      dtypes.push_back(std::move(dtype));
    }
  }
  return dtypes;
}

Result<ActivationPlan> FromTransformer(const ActivationPlanInput& in,
                                       const TransformerConfig& config) {
  TransformerTraceOptions o;
  o.batch = in.batch;
  o.sequence = in.sequence;
  o.activation_bytes = ActivationElementBytes(in.dtype);
  if (config.max_positions > 0 && in.sequence > config.max_positions) {
    return InvalidArgument("sequence " + std::to_string(in.sequence) + " exceeds the model's " +
                           std::to_string(config.max_positions) + " positions");
  }
  TransformerTraceResult r = BuildTransformerTrace(config, o);
  ActivationPlan plan;
  plan.trace = std::move(r.trace);
  plan.kv_cache_bytes = r.kv_cache_bytes;
  plan.uses_matmul = true;
  plan.uses_sequence = true;
  plan.assumptions = std::move(r.assumptions);
  plan.source = "closed form for a " + std::to_string(config.num_layers) + "-layer " +
                (config.kind == TransformerKind::kEncoder ? "encoder" : "decoder") + " (hidden " +
                std::to_string(config.hidden_size) + ", " + std::to_string(config.num_heads) +
                " heads, " + std::to_string(config.num_kv_heads) + " KV heads)";
  return plan;
}

Result<ActivationPlan> FromOnnx(const ActivationPlanInput& in) {
  OnnxTraceOptions o;
  o.batch = in.batch;
  o.sequence = in.sequence;
  o.activation_bytes = ActivationElementBytes(in.dtype);
  o.input_shapes = InputShapes(in);
  o.conv_workspace_fraction = in.host ? 0 : calibration::kConvWorkspaceFraction;
  MG_ASSIGN_OR_RETURN(OnnxActivationResult r, BuildOnnxActivationTrace(*in.model.onnx, o));
  ActivationPlan plan;
  plan.trace = std::move(r.trace);
  plan.uses_matmul = r.matmul_count > 0;
  plan.cudnn_workspace_bytes = static_cast<uint64_t>(
      static_cast<double>(r.largest_conv_output_bytes) * o.conv_workspace_fraction);
  plan.activation_segment_factor = calibration::kGraphActivationSegmentFactor;
  plan.assumptions = std::move(r.assumptions);
  if (r.conv_count > 0 && !in.host) {
    plan.assumptions.push_back(
        "each convolution takes a transient cuDNN workspace the size of its output");
  }
  plan.source = "ONNX shape inference and tensor liveness over " +
                std::to_string(in.model.onnx->nodes.size()) + " nodes";
  return plan;
}

// `trace` with an allocation of `input_bytes` live from its start to its end.
AllocationTrace WithInputs(const AllocationTrace& trace, uint64_t input_bytes) {
  AllocationTrace out;
  const uint32_t inputs = out.Alloc(input_bytes);  // id 0: the trace's ids shift by one
  for (const AllocEvent& e : trace.events()) {
    if (e.kind == AllocEvent::Kind::kAlloc) {
      out.Alloc(e.bytes);
    } else {
      out.Free(e.id + 1);
    }
  }
  out.Free(inputs);
  return out;
}

Result<ActivationPlan> FromDryRun(const ActivationPlanInput& in) {
  DryRunOptions o;
  o.path = in.model.path;
  o.batch = in.batch;
  o.input_shapes = InputShapes(in);
  MG_ASSIGN_OR_RETURN(o.input_dtypes, InputDTypes(in));
  o.activation_bytes = ActivationElementBytes(in.dtype);
  MG_ASSIGN_OR_RETURN(DryRunResult r, RunDryRun(o));
  ActivationPlan plan;
  // The host's worker caps a request at weights + inputs + outputs, so its estimate holds
  // the inputs too. GPU estimates keep the trace without them: calibration.h was fitted so.
  plan.trace =
      in.host && r.input_bytes > 0 ? WithInputs(r.trace, r.input_bytes) : std::move(r.trace);
  plan.uses_matmul = r.matmul_count > 0;
  plan.activation_segment_factor = calibration::kDryRunActivationSegmentFactor;
  plan.assumptions = std::move(r.assumptions);
  if (!in.host) {
    plan.assumptions.push_back(
        "CPU allocations (oneDNN's buffers among them) stand in for the GPU's; cuDNN/cuBLAS "
        "workspaces are not in the trace");
  } else if (r.input_bytes > 0) {
    plan.assumptions.push_back("the inputs (" + std::to_string(r.input_bytes) +
                               " bytes) stay live through the forward");
  }
  plan.source = "TorchScript dry run on the CPU, allocations replayed";
  return plan;
}

// A config.json beside a bare safetensors file describes it.
std::optional<TransformerConfig> SiblingConfig(const ModelSource& model, std::string* note) {
  const auto dir = std::filesystem::path(model.path).parent_path();
  const std::string config_path = (dir.empty() ? std::filesystem::path(".") : dir) / "config.json";
  auto text = ReadSmallFile(config_path, 16 << 20);
  if (!text.ok()) return std::nullopt;
  auto config = ParseHfConfig(*text);
  if (!config.ok()) return std::nullopt;
  *note = "architecture from " + config_path;
  return *config;
}

}  // namespace

Result<ActivationPlan> PlanActivations(const ActivationPlanInput& in) {
  const ModelSource& model = in.model;
  if (model.transformer) return FromTransformer(in, *model.transformer);
  if (model.onnx) return FromOnnx(in);
  if (model.format == ModelFormat::kTorchScript) return FromDryRun(in);
  // A bare safetensors file or PyTorch checkpoint (pytorch_model.bin) beside its config.
  if (model.format == ModelFormat::kSafetensors || model.format == ModelFormat::kTorchCheckpoint) {
    std::string note;
    if (auto config = SiblingConfig(model, &note)) {
      MG_ASSIGN_OR_RETURN(ActivationPlan plan, FromTransformer(in, *config));
      plan.assumptions.push_back(note);
      return plan;
    }
  }
  return Unsupported(model.path + ": cannot derive activations from a " +
                     ModelFormatName(model.format) +
                     " file alone; put its HuggingFace config.json beside it or serve it from a "
                     "model folder");
}

}  // namespace modelgrid
