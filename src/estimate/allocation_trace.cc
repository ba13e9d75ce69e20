#include "estimate/allocation_trace.h"

#include <algorithm>

namespace modelgrid {

uint32_t AllocationTrace::Alloc(uint64_t bytes) {
  uint32_t id = static_cast<uint32_t>(sizes_.size());
  sizes_.push_back(bytes);
  live_.push_back(1);
  events_.push_back({AllocEvent::Kind::kAlloc, id, bytes});
  return id;
}

void AllocationTrace::Free(uint32_t id) {
  if (id >= live_.size() || !live_[id]) return;
  live_[id] = 0;
  events_.push_back({AllocEvent::Kind::kFree, id, 0});
}

void AllocationTrace::FreeAll() {
  for (uint32_t id = 0; id < live_.size(); ++id) Free(id);
}

uint64_t AllocationTrace::PeakLiveBytes() const {
  uint64_t live = 0, peak = 0;
  for (const auto& e : events_) {
    if (e.kind == AllocEvent::Kind::kAlloc) {
      live += e.bytes;
      peak = std::max(peak, live);
    } else {
      live -= sizes_[e.id];
    }
  }
  return peak;
}

uint64_t AllocationTrace::LiveBytesAtEnd() const {
  uint64_t live = 0;
  for (uint32_t id = 0; id < live_.size(); ++id) {
    if (live_[id]) live += sizes_[id];
  }
  return live;
}

}  // namespace modelgrid
