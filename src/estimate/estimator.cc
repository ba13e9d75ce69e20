#include "estimate/estimator.h"

#include <strings.h>

#include <algorithm>
#include <map>

#include "estimate/activation_plan.h"
#include "estimate/caching_allocator_model.h"
#include "estimate/calibration.h"
#include "gpu/gpu_catalog.h"

namespace modelgrid {

namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Normalisation statistics and counters are buffers, not parameters.
bool IsBuffer(const TensorInfo& t) {
  return EndsWith(t.name, "running_mean") || EndsWith(t.name, "running_var") ||
         EndsWith(t.name, "num_batches_tracked");
}

// The compute dtype matching the weights' dominant floating type (by bytes); without
// floating weights, the first floating input type of the Triton config.
ComputeDType DefaultDType(const ModelSource& model) {
  std::map<DType, uint64_t> bytes;
  for (const auto& t : model.tensors) bytes[t.dtype] += t.bytes;
  if (bytes[DType::kBlockQuantized] > 0) return ComputeDType::kFp16;
  DType best = DType::kUnknown;
  uint64_t best_bytes = 0;
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64}) {
    if (bytes[d] > best_bytes) best = d, best_bytes = bytes[d];
  }
  if (best == DType::kUnknown && model.triton) {
    for (const auto& input : model.triton->inputs) {
      if (input.data_type == "TYPE_FP16") return ComputeDType::kFp16;
      if (input.data_type == "TYPE_BF16") return ComputeDType::kBf16;
      if (input.data_type == "TYPE_FP32" || input.data_type == "TYPE_FP64") break;
    }
  }
  if (best == DType::kF16) return ComputeDType::kFp16;
  if (best == DType::kBF16) return ComputeDType::kBf16;
  return ComputeDType::kFp32;
}

// Runtimes that load the file's tensors in their stored types: llama.cpp keeps GGUF's
// quantised blocks and F32 norms, torch.jit.load keeps a TorchScript module's dtypes.
bool LoadsAsStored(ModelFormat format) {
  return format == ModelFormat::kGguf || format == ModelFormat::kTorchScript;
}

// Bytes of one tensor once loaded: as stored when `dtype` is unset; otherwise floating and
// block-quantised tensors convert to `dtype` (int8 quantises matrices only; vectors stay
// fp16), others keep their stored size.
uint64_t LoadedBytes(const TensorInfo& t, std::optional<ComputeDType> dtype) {
  if (!dtype || !(IsFloating(t.dtype) || t.dtype == DType::kBlockQuantized)) return t.bytes;
  if (*dtype == ComputeDType::kInt8 && t.shape.size() < 2) return t.elements * 2;
  return t.elements * WeightElementBytes(*dtype);
}

// HuggingFace models with tied embeddings are constructed with their own LM head, which
// is freed when tied to the token embedding: a transient of vocab x hidden weights.
uint64_t TransientTiedHeadBytes(const ModelSource& model, ComputeDType dtype) {
  if (!model.transformer || !model.tie_word_embeddings || !model.transformer->has_lm_head) {
    return 0;
  }
  for (const auto& t : model.tensors) {
    if (t.name.find("lm_head") != std::string::npos) return 0;  // stored untied
  }
  return static_cast<uint64_t>(model.transformer->vocab_size) *
         static_cast<uint64_t>(model.transformer->hidden_size) * WeightElementBytes(dtype);
}

// The runtime terms on a GPU: the cuBLAS workspace, and the caching allocator's
// reserved bytes from replaying the weights (`loaded`, in load order), the tied head's
// transient and the activation trace; the context from the catalog.
void AddGpuRuntime(const GpuModel& gpu, const std::vector<uint64_t>& loaded, uint64_t head,
                   const ActivationPlan& plan, Estimate& e) {
  CachingAllocatorModel allocator;
  for (uint64_t bytes : loaded) allocator.Malloc(bytes);
  if (head > 0) allocator.Free(allocator.Malloc(head));
  allocator.ResetPeaks();
  // The cuBLAS workspace goes through the caching allocator too, allocated at the first
  // matmul and kept.
  const uint64_t weight_segments = allocator.stats().reserved_bytes;
  if (plan.uses_matmul) {
    e.cublas_workspace_bytes = gpu.cublas_workspace_bytes;
    allocator.Malloc(e.cublas_workspace_bytes);
  }
  e.cudnn_workspace_bytes = plan.cudnn_workspace_bytes;
  allocator.Replay(plan.trace);
  const uint64_t trace_peak = plan.trace.PeakLiveBytes();
  const double simulated = static_cast<double>(allocator.stats().peak_reserved_bytes);
  double reserved = simulated;
  if (plan.activation_segment_factor > 0) {
    reserved =
        std::max(reserved, static_cast<double>(weight_segments + e.cublas_workspace_bytes) +
                               plan.activation_segment_factor * static_cast<double>(trace_peak));
  } else {
    reserved *= calibration::kTransformerReservedFactor;
  }
  // Never below what is allocated at the activation peak.
  e.peak_reserved_bytes = std::max(static_cast<uint64_t>(reserved),
                                   e.weights_bytes + trace_peak + e.cublas_workspace_bytes);
  e.workspace_bytes =
      e.peak_reserved_bytes - e.weights_bytes - e.activation_bytes - e.kv_cache_bytes;
  e.allocator_slack_bytes = e.workspace_bytes - e.cublas_workspace_bytes;
  e.context_bytes = gpu.context_bytes;
  e.runtime_source =
      std::string(plan.activation_segment_factor > 0
                      ? "caching-allocator replay, activation segments at least " +
                            std::to_string(plan.activation_segment_factor).substr(0, 4) +
                            "x the peak"
                      : "caching-allocator replay (512 B rounding, 2/20 MiB "
                        "segments)") +
      "; cuBLAS " + std::to_string(e.cublas_workspace_bytes >> 20) + " MiB; context " +
      std::to_string(e.context_bytes >> 20) + " MiB " + gpu.context_source;
}

// The runtime terms on the host: no CUDA, so no cuBLAS or cuDNN workspace and no caching
// allocator (LibTorch's CPU allocator hands each tensor to malloc). The peak is the weights
// plus the larger of the activation peak and the tied head's load-time transient; the part
// of the head beyond the activation peak is the only workspace (transient, not slack). The
// context is an idle worker process's resident memory.
void AddHostRuntime(uint64_t head, uint64_t trace_peak, Estimate& e) {
  e.peak_reserved_bytes = e.weights_bytes + std::max(head, trace_peak);
  e.workspace_bytes = head > trace_peak ? head - trace_peak : 0;
  e.context_bytes = kHostWorkerContextBytes;
  e.runtime_source = "host CPU: no CUDA workspaces or caching allocator; context " +
                     std::to_string(e.context_bytes >> 20) +
                     " MiB, an idle worker process's resident memory";
}

}  // namespace

Result<Estimate> EstimateFootprint(const ModelSource& model, const EstimateOptions& options) {
  Estimate e;
  e.format = ModelFormatName(model.format);
  e.host = ::strcasecmp(options.gpu.c_str(), kHostDevice) == 0;
  const GpuModel* gpu = e.host ? &DefaultGpu() : FindGpu(options.gpu);
  if (gpu == nullptr) {
    gpu = &DefaultGpu();
    e.assumptions.push_back("GPU '" + options.gpu +
                            "' is not in the catalog: " + gpu->context_source);
  }
  e.gpu = e.host ? kHostDevice : gpu == &DefaultGpu() ? options.gpu : gpu->name;
  e.batch = options.batch.value_or(
      model.triton && model.triton->max_batch_size > 0 ? model.triton->max_batch_size : 1);
  if (e.batch < 1 || e.batch > 65536) {
    return InvalidArgument("batch " + std::to_string(e.batch) + " is outside 1..65536");
  }
  if (options.sequence < 1 || options.sequence > (1 << 20)) {
    return InvalidArgument("sequence " + std::to_string(options.sequence) +
                           " is outside 1..1048576");
  }
  e.dtype = options.dtype.value_or(DefaultDType(model));
  e.weights_as_stored = !options.dtype && LoadsAsStored(model.format);

  // Weights: exact, per tensor, in load order.
  std::vector<uint64_t> loaded;
  uint64_t file_bytes = 0;
  for (const auto& t : model.tensors) {
    loaded.push_back(
        LoadedBytes(t, e.weights_as_stored ? std::nullopt : std::optional<ComputeDType>(e.dtype)));
    e.weights_bytes += loaded.back();
    file_bytes += t.bytes;
    if (IsFloating(t.dtype) || t.dtype == DType::kBlockQuantized) {
      if (!IsBuffer(t)) e.parameters += t.elements;
    }
  }
  if (model.stored_weight_bytes > 0 && model.stored_weight_bytes < file_bytes) {
    // Tensors that share a storage (tied weights) are loaded once.
    e.weights_bytes = e.weights_bytes * model.stored_weight_bytes / file_bytes;
    e.assumptions.push_back("some tensors share storage; shared bytes are counted once");
  }
  const uint64_t head = TransientTiedHeadBytes(model, e.dtype);
  if (head > 0) {
    e.assumptions.push_back("tied LM head: building the model allocates an untied " +
                            std::to_string(head >> 20) + " MiB head before tying it" +
                            (e.host ? "" : "; the caching allocator keeps that segment reserved"));
  }
  e.weights_source =
      std::to_string(model.tensors.size()) + " tensors from the " + e.format + " header(s), " +
      (e.weights_as_stored ? "as stored" : "loaded as " + std::string(ComputeDTypeName(e.dtype)));

  // Activations: one forward pass as an allocation trace.
  ActivationPlanInput in{model, e.batch, options.sequence, e.dtype, options.input_shapes, e.host};
  MG_ASSIGN_OR_RETURN(ActivationPlan plan, PlanActivations(in));
  e.sequence = plan.uses_sequence ? options.sequence : 0;
  e.activation_source = plan.source;
  e.kv_cache_bytes = plan.kv_cache_bytes;
  for (auto& a : plan.assumptions) e.assumptions.push_back(std::move(a));
  const uint64_t trace_peak = plan.trace.PeakLiveBytes();
  e.activation_bytes = trace_peak > e.kv_cache_bytes ? trace_peak - e.kv_cache_bytes : 0;

  if (e.host) {
    AddHostRuntime(head, trace_peak, e);
  } else {
    AddGpuRuntime(*gpu, loaded, head, plan, e);
  }
  e.total_bytes =
      e.weights_bytes + e.activation_bytes + e.kv_cache_bytes + e.workspace_bytes + e.context_bytes;
  return e;
}

Result<Estimate> EstimatePath(const std::string& path, const EstimateOptions& options) {
  MG_ASSIGN_OR_RETURN(ModelSource model, OpenModelSource(path));
  return EstimateFootprint(model, options);
}

}  // namespace modelgrid
