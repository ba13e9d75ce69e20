#include "backends/libtorch/copy_baseline.h"

#include <torch/torch.h>

#include <exception>

namespace modelgrid {

namespace {

class TorchCopy final : public DeviceCopy {
 public:
  TorchCopy(torch::Tensor host, torch::Tensor device) : host_(host), device_(device) {}
  // A synchronous copy: from pinned memory to CUDA it is one cudaMemcpy.
  void Run() override { device_.copy_(host_, /*non_blocking=*/false); }

 private:
  torch::Tensor host_, device_;
};

}  // namespace

Result<std::unique_ptr<DeviceCopy>> DeviceCopy::Make(const std::string& device, uint64_t bytes) {
  try {
    const c10::Device where(device);
    if (where.is_cuda() && !torch::cuda::is_available()) {
      return InvalidArgument("device " + device + ": LibTorch sees no CUDA device");
    }
    const auto n = static_cast<int64_t>(bytes);
    torch::Tensor host =
        torch::ones({n}, torch::TensorOptions(torch::kUInt8).pinned_memory(where.is_cuda()));
    torch::Tensor target = torch::zeros({n}, torch::TensorOptions(torch::kUInt8).device(where));
    return std::unique_ptr<DeviceCopy>(new TorchCopy(host, target));
  } catch (const std::exception& e) {
    return InvalidArgument("device " + device + ": " + e.what());
  }
}

}  // namespace modelgrid
