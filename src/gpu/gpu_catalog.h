// The catalog of known GPUs: memory, per-process CUDA context cost, library workspaces.
// Shared by the estimator (runtime terms) and the planner (virtual GPU specs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrid {

struct GpuModel {
  std::string name;                     // canonical catalog name: "H100-80GB"
  std::vector<std::string> aliases;     // other spellings accepted (case-insensitive)
  uint64_t memory_bytes = 0;            // total memory as NVML reports it
  int compute_capability = 0;           // 90 for Hopper, 80 for A100, 89 for Ada, 75 for Turing
  uint64_t context_bytes = 0;           // CUDA context + LibTorch kernels, per process
  uint64_t cublas_workspace_bytes = 0;  // PyTorch's default cuBLAS workspace on this arch
  std::string context_source;           // where context_bytes comes from
};

// The host's counterpart of a CUDA context: the resident memory of an idle `modelgrid
// worker` on the CPU (LibTorch loaded, no model), which every extra worker process costs.
// Measured on the development VM (Debian 12, LibTorch 1.13 CPU): 160.6 MiB RSS with the
// 6.5 MiB add_one fixture loaded (`modelgrid serve --model-control-mode explicit
// --load-model add_one`, then GET /v2/modelgrid/status), so 154 MiB.
constexpr uint64_t kHostWorkerContextBytes = uint64_t{154} << 20;

// All catalog entries.
const std::vector<GpuModel>& GpuCatalog();

// Finds a GPU by catalog name, alias, or an NVML product name such as
// "NVIDIA H100 80GB HBM3" (case-insensitive, ignoring spaces, '-' and '_'). Returns
// nullptr when unknown.
const GpuModel* FindGpu(std::string_view name);

// The entry used for an unknown GPU: Hopper-like defaults, 80 GiB, documented in
// context_source.
const GpuModel& DefaultGpu();

}  // namespace modelgrid
