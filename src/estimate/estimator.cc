#include "estimate/estimator.h"

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

// The compute dtype matching the weights' dominant floating type (by bytes).
ComputeDType DefaultDType(const ModelSource& model) {
  std::map<DType, uint64_t> bytes;
  for (const auto& t : model.tensors) bytes[t.dtype] += t.bytes;
  if (bytes[DType::kBlockQuantized] > 0) return ComputeDType::kFp16;
  DType best = DType::kF32;
  uint64_t best_bytes = 0;
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64}) {
    if (bytes[d] > best_bytes) best = d, best_bytes = bytes[d];
  }
  if (best == DType::kF16) return ComputeDType::kFp16;
  if (best == DType::kBF16) return ComputeDType::kBf16;
  return ComputeDType::kFp32;
}

// Bytes of one tensor once loaded in `dtype`: floating tensors convert (int8 quantises
// matrices only; vectors stay fp16), others keep their stored size.
uint64_t LoadedBytes(const TensorInfo& t, ComputeDType dtype) {
  if (!IsFloating(t.dtype)) return t.bytes;
  if (dtype == ComputeDType::kInt8 && t.shape.size() < 2) return t.elements * 2;
  return t.elements * WeightElementBytes(dtype);
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

}  // namespace

Result<Estimate> EstimateFootprint(const ModelSource& model, const EstimateOptions& options) {
  Estimate e;
  e.format = ModelFormatName(model.format);
  const GpuModel* gpu = FindGpu(options.gpu);
  if (gpu == nullptr) {
    gpu = &DefaultGpu();
    e.assumptions.push_back("GPU '" + options.gpu +
                            "' is not in the catalog: " + gpu->context_source);
  }
  e.gpu = gpu == &DefaultGpu() ? options.gpu : gpu->name;
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

  // Weights: exact, per tensor, in load order.
  CachingAllocatorModel allocator;
  uint64_t file_bytes = 0;
  for (const auto& t : model.tensors) {
    const uint64_t bytes = LoadedBytes(t, e.dtype);
    e.weights_bytes += bytes;
    file_bytes += t.bytes;
    if (IsFloating(t.dtype) || t.dtype == DType::kBlockQuantized) {
      if (!IsBuffer(t)) e.parameters += t.elements;
    }
    allocator.Malloc(bytes);
  }
  if (model.stored_weight_bytes > 0 && model.stored_weight_bytes < file_bytes) {
    // Tensors that share a storage (tied weights) are loaded once.
    e.weights_bytes = e.weights_bytes * model.stored_weight_bytes / file_bytes;
    e.assumptions.push_back("some tensors share storage; shared bytes are counted once");
  }
  if (const uint64_t head = TransientTiedHeadBytes(model, e.dtype); head > 0) {
    allocator.Free(allocator.Malloc(head));
    e.assumptions.push_back("tied LM head: building the model on the device allocates an untied " +
                            std::to_string(head >> 20) +
                            " MiB head before tying it; the caching allocator keeps "
                            "that segment reserved");
  }
  e.weights_source = std::to_string(model.tensors.size()) + " tensors from the " + e.format +
                     " header(s), loaded as " + std::string(ComputeDTypeName(e.dtype));
  allocator.ResetPeaks();

  // Activations: one forward pass as an allocation trace.
  ActivationPlanInput in{model, e.batch, options.sequence, e.dtype, options.input_shapes};
  MG_ASSIGN_OR_RETURN(ActivationPlan plan, PlanActivations(in));
  if (!plan.uses_sequence)
    e.sequence = 0;
  else
    e.sequence = options.sequence;
  e.activation_source = plan.source;
  e.kv_cache_bytes = plan.kv_cache_bytes;
  for (auto& a : plan.assumptions) e.assumptions.push_back(std::move(a));

  // Runtime: the cuBLAS workspace goes through the caching allocator too, allocated at the
  // first matmul and kept.
  const uint64_t weight_segments = allocator.stats().reserved_bytes;
  if (plan.uses_matmul) {
    e.cublas_workspace_bytes = gpu->cublas_workspace_bytes;
    allocator.Malloc(e.cublas_workspace_bytes);
  }
  e.cudnn_workspace_bytes = plan.cudnn_workspace_bytes;
  allocator.Replay(plan.trace);
  const uint64_t trace_peak = plan.trace.PeakLiveBytes();
  e.activation_bytes = trace_peak > e.kv_cache_bytes ? trace_peak - e.kv_cache_bytes : 0;
  const double simulated = static_cast<double>(allocator.stats().peak_reserved_bytes);
  double reserved = simulated;
  if (plan.activation_segment_factor > 0) {
    reserved = std::max(reserved, static_cast<double>(weight_segments + e.cublas_workspace_bytes) +
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
  e.context_bytes = gpu->context_bytes;
  e.runtime_source =
      std::string(
          plan.activation_segment_factor > 0
              ? "caching-allocator replay, activation segments at least " +
                    std::to_string(plan.activation_segment_factor).substr(0, 4) +
                    "x the peak"
              : "caching-allocator replay (512 B rounding, 2/20 MiB "
                "segments)") +
      "; cuBLAS " + std::to_string(e.cublas_workspace_bytes >> 20) + " MiB; context " +
      std::to_string(e.context_bytes >> 20) + " MiB " + gpu->context_source;
  e.total_bytes =
      e.weights_bytes + e.activation_bytes + e.kv_cache_bytes + e.workspace_bytes + e.context_bytes;
  return e;
}

Result<Estimate> EstimatePath(const std::string& path, const EstimateOptions& options) {
  MG_ASSIGN_OR_RETURN(ModelSource model, OpenModelSource(path));
  return EstimateFootprint(model, options);
}

}  // namespace modelgrid
