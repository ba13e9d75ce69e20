// Loads the models a plan places: a JSON manifest or a Triton model repository. Footprints
// come from the estimator (EstimatePath, total minus the context, since the planner adds
// one context per worker) unless the entry gives memory_bytes. An estimated footprint's
// transient part is its activations + KV cache + cuBLAS workspace (weights and allocator
// slack stay resident; see FootprintOf in manifest.cc); a given memory_bytes is all
// resident unless the entry also gives transient_bytes (0..memory_bytes).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "formats/triton_config.h"
#include "plan/plan_types.h"

namespace modelgrid {

struct ManifestOptions {
  // Catalog GPU the estimator assumes (workspace sizes), or "cpu" (kHostDevice) for
  // estimates without CUDA terms.
  std::string gpu = "H100-80GB";
};

// JSON text: {"models": [{"name", "path", "memory_bytes", "transient_bytes", "batch", "seq",
// "dtype", "isolation": "shared"|"process", "latency_sensitive", "replicas", "expected_load"}]}.
// Relative paths are taken from `base_dir`. Unknown keys, duplicate names, negative or
// absurd sizes, an empty list and models the estimator rejects all fail with
// kInvalidArgument (or the estimator's code) naming the entry.
Result<std::vector<ModelRequest>> ParseManifest(std::string_view json_text,
                                                const std::string& base_dir,
                                                const ManifestOptions& options);

// REPO/<model>/config.pbtxt for each model folder; ModelGrid settings come from its
// parameters ("isolation", "latency_sensitive", "memory_bytes", "transient_bytes", "replicas",
// "expected_load"), the batch from max_batch_size.
Result<std::vector<ModelRequest>> LoadTritonRepository(const std::string& dir,
                                                       const ManifestOptions& options);

// One model folder of a Triton repository (REPO/<model>), by the same rules.
Result<ModelRequest> LoadTritonModel(const std::string& model_dir, const ManifestOptions& options);
// The same for a folder whose config.pbtxt the caller already parsed (serve reads each
// config once per load): the config is not read again.
Result<ModelRequest> ModelRequestFromTriton(const std::string& model_dir,
                                            const TritonModelConfig& config,
                                            const ManifestOptions& options);

// A directory is a Triton repository; a file is a JSON manifest.
Result<std::vector<ModelRequest>> LoadModels(const std::string& path,
                                             const ManifestOptions& options);

}  // namespace modelgrid
