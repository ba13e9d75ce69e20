#include "backends/libtorch/weight_parking.h"

#include <sys/mman.h>

#include <cstdint>
#include <map>
#include <string>

namespace modelgrid {

namespace {

// A tensor of `t`'s dtype and device that views `storage` as `t` viewed its own.
torch::Tensor ViewOf(const c10::Storage& storage, const torch::Tensor& like, int64_t offset,
                     const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
  torch::Tensor view = torch::empty({0}, like.options());
  view.set_(storage, offset, sizes, strides);
  return view;
}

// A fresh buffer of `n` bytes on `device` (pinned host memory when `pinned`). On the CPU it
// asks for transparent huge pages over its whole 2 MiB pages (madvise; a no-op where THP is
// off): a swap's buffer is new memory, and faulting it in 4 KiB pages dominates the copy
// (a 42 MB copy measured 100 ms against 13 ms with huge pages on this project's machines).
torch::Tensor FreshBuffer(int64_t n, const c10::Device& device, bool pinned) {
  torch::Tensor buffer =
      torch::empty({n}, torch::TensorOptions(torch::kUInt8).device(device).pinned_memory(pinned));
  if (device.is_cpu() && !pinned) {
    constexpr uintptr_t kHuge = uintptr_t{2} << 20;
    const auto begin = reinterpret_cast<uintptr_t>(buffer.data_ptr());
    const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t last = (begin + static_cast<uintptr_t>(n)) & ~(kHuge - 1);
    if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
  return buffer;
}

}  // namespace

Result<ParkedWeights> ParkedWeights::Park(torch::jit::Module& module) {
  ParkedWeights parked;
  try {
    torch::NoGradGuard no_grad;
    std::map<const void*, size_t> index;  // storage -> hosts_ entry
    std::vector<torch::Tensor> tensors;
    for (const torch::Tensor& t : module.parameters()) tensors.push_back(t);
    for (const torch::Tensor& t : module.buffers()) tensors.push_back(t);
    for (const torch::Tensor& t : tensors) {
      if (!t.defined() || !t.has_storage()) continue;
      const c10::Storage& storage = t.storage();
      auto [it, fresh] = index.emplace(storage.data(), parked.hosts_.size());
      if (fresh) {
        const auto n = static_cast<int64_t>(storage.nbytes());
        torch::Tensor flat =
            ViewOf(storage, torch::empty({0}, t.options().dtype(torch::kUInt8)), 0, {n}, {1});
        torch::Tensor host = FreshBuffer(n, c10::Device(c10::kCPU), t.is_cuda());
        host.copy_(flat);
        parked.hosts_.push_back(std::move(host));
        parked.bytes_ += static_cast<uint64_t>(n);
      }
      parked.slots_.push_back(
          {t, it->second, t.storage_offset(), t.sizes().vec(), t.strides().vec()});
    }
    // Only now, with every copy made: a failed copy leaves the module as it was.
    for (Slot& s : parked.slots_) s.tensor.set_data(torch::empty({0}, s.tensor.options()));
  } catch (const std::exception& e) {
    return Internal(std::string("parking the weights: ") + e.what());
  }
  return parked;
}

Status ParkedWeights::Restore(const c10::Device& device) {
  try {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> back;
    back.reserve(hosts_.size());
    // A copy also on the CPU, where the parked bytes would otherwise be used in place: a
    // swap-in does the same work wherever it lands.
    for (const torch::Tensor& host : hosts_) {
      back.push_back(FreshBuffer(host.numel(), device, false));
      back.back().copy_(host);
    }
    for (Slot& s : slots_) {
      s.tensor.set_data(ViewOf(back[s.storage].storage(), s.tensor, s.offset, s.sizes, s.strides));
    }
  } catch (const std::exception& e) {
    return Internal(std::string("restoring the parked weights: ") + e.what());
  }
  hosts_.clear();
  slots_.clear();
  return Status::Ok();
}

}  // namespace modelgrid
