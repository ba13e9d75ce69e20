// Parking a TorchScript module's weights in host memory and bringing them back: the
// primitive of the host-memory tier (a model kept loaded, its device memory given back).
// LibTorch-private: only the LibTorch backend's .cc files include it.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace modelgrid {

class ParkedWeights {
 public:
  // Copies the storage behind every parameter and buffer of `module` to host memory (pinned
  // when it is on CUDA: copies back run at the link's full rate) and points each tensor at
  // an empty one, so the device memory is freed once nothing else holds it. Tensors that
  // share a storage (tied weights, views) keep sharing it. Not thread-safe with the
  // module's own use. kInternal with LibTorch's reason when a copy fails.
  static Result<ParkedWeights> Park(torch::jit::Module& module);

  // Copies the storages back onto `device` and points every tensor at its place in them
  // again (same sizes, strides and offsets). The module must be the one parked.
  Status Restore(const c10::Device& device);

  // Bytes held in host memory (each storage once).
  uint64_t bytes() const { return bytes_; }

 private:
  struct Slot {
    torch::Tensor tensor;  // the module's parameter or buffer (its TensorImpl)
    size_t storage = 0;    // index into hosts_
    int64_t offset = 0;
    std::vector<int64_t> sizes, strides;
  };
  std::vector<torch::Tensor> hosts_;  // one flat uint8 copy per storage
  std::vector<Slot> slots_;
  uint64_t bytes_ = 0;
};

}  // namespace modelgrid
