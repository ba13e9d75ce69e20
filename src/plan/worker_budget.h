// The shared-worker budget rule, in the one copy that the planner, admission and the
// serving core use. A shared worker runs its models one request at a time, so the memory
// that exists only during a forward pass (activations, the KV cache of that pass, the
// cuBLAS workspace: a model's transient part) is reused from one model to the next by the
// CUDA caching allocator. The worker therefore needs every model's resident part (its
// footprint less its transient part) and only the largest transient part among them, plus
// its context (which callers add: one per worker).
#pragma once

#include <algorithm>
#include <cstdint>

namespace modelgrid {

struct SharedWorkerBudget {
  uint64_t resident_bytes = 0;           // the models' footprints less their transient parts
  uint64_t largest_transient_bytes = 0;  // the largest transient part among them

  // What a model of `footprint_bytes`, `transient_bytes` of them transient (at most the
  // footprint), adds to this worker: its resident part and how much the largest transient
  // part grows.
  uint64_t CostOf(uint64_t footprint_bytes, uint64_t transient_bytes) const {
    const uint64_t transient = std::min(transient_bytes, footprint_bytes);
    const uint64_t grow =
        transient > largest_transient_bytes ? transient - largest_transient_bytes : 0;
    return footprint_bytes - transient + grow;
  }
  // Counts the model in.
  void Add(uint64_t footprint_bytes, uint64_t transient_bytes) {
    const uint64_t transient = std::min(transient_bytes, footprint_bytes);
    resident_bytes += footprint_bytes - transient;
    largest_transient_bytes = std::max(largest_transient_bytes, transient);
  }
  // The worker's models together, without its context.
  uint64_t bytes() const { return resident_bytes + largest_transient_bytes; }
};

}  // namespace modelgrid
