// The memory model: footprint(model, batch, sequence, dtype, gpu) without loading the model.
//
// Every term is predicted separately and reported with its source:
//   weights     exact bytes of the stored tensors, converted to the compute dtype;
//   activations peak live bytes of one forward pass (closed form for transformers, shape
//               inference + liveness for ONNX, a recorded CPU dry run for TorchScript);
//   kv cache    keys and values of every decoder layer for batch x sequence tokens;
//   workspace   cuBLAS/cuDNN workspaces plus the caching allocator's rounding and segment
//               slack, from replaying weights and activations through a model of it;
//   context     the CUDA context of one worker process on this GPU (from the catalog).
// total_bytes is their sum. The estimate is an upper bound the worker's warm-up checks.
// On the host (device "cpu") there is no CUDA: no cuBLAS or cuDNN workspace, no caching
// allocator, and the context is an idle worker process's resident memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "estimate/model_source.h"
#include "formats/dtype.h"

namespace modelgrid {

// The device name of the host CPU: estimates for it have no CUDA terms.
inline constexpr const char* kHostDevice = "cpu";

struct EstimateOptions {
  std::optional<int64_t> batch;  // default: Triton max_batch_size, else 1
  int64_t sequence = 128;        // tokens per sequence for text models
  // Converts the weights and sets the activations' element size. Unset: GGUF and
  // TorchScript weights as stored (their runtimes load them so), others in the weights'
  // dominant floating type; activations in that dominant type (fp16 for quantised GGUF),
  // or, without floating weights, the first floating input type a Triton config declares.
  std::optional<ComputeDType> dtype;
  // A catalog GPU name (unknown names use DefaultGpu()), or kHostDevice ("cpu", any case)
  // for the CPU.
  std::string gpu = "H100-80GB";
  // Input shapes without batch, overriding the model's or the Triton config's.
  std::vector<std::vector<int64_t>> input_shapes;
};

struct Estimate {
  std::string format;
  std::string gpu;    // the catalog name, the name asked for when unknown, or "cpu"
  bool host = false;  // estimated for the host CPU (no CUDA terms)
  int64_t batch = 1;
  int64_t sequence = 0;                      // 0 for models without a sequence axis
  ComputeDType dtype = ComputeDType::kFp32;  // activations', and weights' unless as stored
  bool weights_as_stored = false;            // weights kept in their stored types
  uint64_t parameters = 0;

  uint64_t weights_bytes = 0;
  uint64_t activation_bytes = 0;
  uint64_t kv_cache_bytes = 0;
  uint64_t workspace_bytes = 0;
  uint64_t context_bytes = 0;
  uint64_t total_bytes = 0;  // sum of the five terms above

  // Parts of workspace_bytes: cuBLAS and the allocator's slack (rounding, segment tails,
  // fragmentation). cuDNN workspaces are transient and sit inside the activation peak;
  // cudnn_workspace_bytes reports the largest one. All 0 on the host.
  uint64_t cublas_workspace_bytes = 0;
  uint64_t allocator_slack_bytes = 0;
  uint64_t cudnn_workspace_bytes = 0;
  // Simulated caching-allocator peak (no context); on the host, the peak allocated bytes.
  uint64_t peak_reserved_bytes = 0;

  // Where each term came from, one line each.
  std::string weights_source;
  std::string activation_source;
  std::string runtime_source;
  std::vector<std::string> assumptions;
};

// Estimates the footprint of an opened model. Fails with kInvalidArgument when options
// are out of range (batch 1..65536, sequence 1..1M) and kUnsupported when activations
// cannot be derived (e.g. a bare safetensors file without config.json), saying what to add.
Result<Estimate> EstimateFootprint(const ModelSource& model, const EstimateOptions& options);

// OpenModelSource + EstimateFootprint.
Result<Estimate> EstimatePath(const std::string& path, const EstimateOptions& options);

}  // namespace modelgrid
