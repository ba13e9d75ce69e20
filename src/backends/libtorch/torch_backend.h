// The LibTorch backend: serves TorchScript files the way Triton's pytorch backend does.
//
// Inputs are forward arguments: INPUT__i is argument i, other names match forward's
// parameter names, else the config's order. Outputs come from a tensor, a tuple or list of
// tensors (OUTPUT__i is element i) or a dict of tensors (by key). Inference runs under
// torch::InferenceMode on the module in eval mode. LibTorch headers stay in torch_backend.cc.
//
// CUDA: devices "cuda[:N]" load only when torch::cuda::is_available(); the allocator stats and
// the memory cap need the build to define MODELGRID_TORCH_CUDA (a CUDA-enabled LibTorch).
// Without it a CUDA instance still runs, but Memory() reports only its weights, and a
// memory_limit_bytes on CUDA is refused with kUnsupported.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"
#include "common/status.h"

namespace modelgrid {

class TorchBackend final : public Backend {
 public:
  // See Backend::Load. The file is read with torch::jit::load onto the device.
  Result<std::unique_ptr<ModelInstance>> Load(const ModelInstanceConfig& config) override;
  std::string Name() const override { return "pytorch"; }
};

// True when LibTorch sees a usable CUDA device in this process.
bool TorchCudaAvailable();

// True when this build was compiled with CUDA allocator support (MODELGRID_TORCH_CUDA).
bool TorchCudaStatsCompiledIn();

}  // namespace modelgrid
