// An allocation trace: the sequence of device allocations and frees that one forward pass
// makes, in program order. Produced by the transformer closed form, by ONNX liveness
// analysis, or by a TorchScript dry run; replayed through CachingAllocatorModel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgrid {

struct AllocEvent {
  enum class Kind : uint8_t { kAlloc, kFree };
  Kind kind = Kind::kAlloc;
  uint32_t id = 0;     // names the allocation; a free refers to an earlier alloc's id
  uint64_t bytes = 0;  // requested bytes (allocs only)
};

// Builds a well-formed trace: ids are unique, every free names a live allocation.
// Not thread-safe.
class AllocationTrace {
 public:
  // Records an allocation of `bytes` and returns its id.
  uint32_t Alloc(uint64_t bytes);
  // Records the free of a live allocation; freeing an unknown or dead id is ignored.
  void Free(uint32_t id);
  // Frees every allocation still live, in allocation order.
  void FreeAll();

  const std::vector<AllocEvent>& events() const { return events_; }
  // Peak of the sum of live requested bytes (no rounding): a lower bound on activations.
  uint64_t PeakLiveBytes() const;
  // Sum of the bytes of allocations still live at the end of the trace.
  uint64_t LiveBytesAtEnd() const;

 private:
  std::vector<AllocEvent> events_;
  std::vector<uint8_t> live_;  // indexed by id
  std::vector<uint64_t> sizes_;
};

}  // namespace modelgrid
