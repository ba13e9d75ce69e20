#include "estimate/caching_allocator_model.h"

#include <algorithm>
#include <unordered_map>

namespace modelgrid {

namespace {
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMinBlockSize = 512;
constexpr uint64_t kSmallSize = 1 * kMiB;
constexpr uint64_t kSmallBuffer = 2 * kMiB;
constexpr uint64_t kLargeBuffer = 20 * kMiB;
constexpr uint64_t kMinLargeAlloc = 10 * kMiB;
constexpr uint64_t kRoundLarge = 2 * kMiB;
// Segments are placed far apart so that blocks of different segments never look adjacent.
constexpr uint64_t kSegmentStride = uint64_t{1} << 44;
}  // namespace

uint64_t CachingAllocatorModel::RoundSize(uint64_t bytes) {
  if (bytes < kMinBlockSize) return kMinBlockSize;
  return (bytes + kMinBlockSize - 1) / kMinBlockSize * kMinBlockSize;
}

uint64_t CachingAllocatorModel::SegmentSize(uint64_t rounded_bytes) {
  if (rounded_bytes <= kSmallSize) return kSmallBuffer;
  if (rounded_bytes < kMinLargeAlloc) return kLargeBuffer;
  return (rounded_bytes + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
}

void CachingAllocatorModel::InsertFree(uint64_t address) {
  Block& b = blocks_[address];
  b.free = true;
  PoolFor(b.small).insert({b.size, address});
}

uint64_t CachingAllocatorModel::Malloc(uint64_t bytes) {
  const uint64_t size = RoundSize(bytes);
  const bool small = size <= kSmallSize;
  FreeSet& pool = PoolFor(small);
  uint64_t address;
  auto it = pool.lower_bound({size, 0});
  if (it != pool.end()) {
    address = it->second;
    pool.erase(it);
  } else {
    const uint64_t segment_bytes = SegmentSize(size);
    address = next_segment_address_;
    next_segment_address_ += kSegmentStride;
    blocks_[address] = Block{segment_bytes, address, false, small};
    stats_.reserved_bytes += segment_bytes;
    stats_.segments += 1;
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  }
  Block& block = blocks_[address];
  block.free = false;
  const uint64_t remaining = block.size - size;
  const bool split = small ? remaining >= kMinBlockSize : remaining > kSmallSize;
  if (split) {
    block.size = size;
    blocks_[address + size] = Block{remaining, block.segment, true, small};
    pool.insert({remaining, address + size});
  }
  stats_.allocated_bytes += blocks_[address].size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return address;
}

void CachingAllocatorModel::Free(uint64_t handle) {
  auto it = blocks_.find(handle);
  if (it == blocks_.end() || it->second.free) return;
  stats_.allocated_bytes -= it->second.size;
  FreeSet& pool = PoolFor(it->second.small);
  // Merge with the next block when it is free and in the same segment.
  auto next = std::next(it);
  if (next != blocks_.end() && next->second.free && next->second.segment == it->second.segment) {
    pool.erase({next->second.size, next->first});
    it->second.size += next->second.size;
    blocks_.erase(next);
  }
  // Merge into the previous block when it is free and in the same segment.
  if (it != blocks_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.free && prev->second.segment == it->second.segment) {
      pool.erase({prev->second.size, prev->first});
      prev->second.size += it->second.size;
      blocks_.erase(it);
      it = prev;
    }
  }
  InsertFree(it->first);
}

void CachingAllocatorModel::Replay(const AllocationTrace& trace) {
  std::unordered_map<uint32_t, uint64_t> handles;
  for (const AllocEvent& e : trace.events()) {
    if (e.kind == AllocEvent::Kind::kAlloc) {
      handles[e.id] = Malloc(e.bytes);
    } else if (auto h = handles.find(e.id); h != handles.end()) {
      Free(h->second);
      handles.erase(h);
    }
  }
}

void CachingAllocatorModel::ResetPeaks() {
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

}  // namespace modelgrid
