// A model of PyTorch's CUDA caching allocator (native backend, expandable segments off),
// used to turn an AllocationTrace into the bytes a process actually reserves from the GPU.
//
// Rules modelled (c10/cuda/CUDACachingAllocator.cpp):
// - requests round up to 512 B;
// - requests of at most 1 MiB come from the small pool, carved from 2 MiB segments;
// - larger requests come from the large pool: under 10 MiB from 20 MiB segments, from
//   10 MiB up as their own segment rounded up to 2 MiB;
// - a free block is reused best-fit (smallest block that fits, lowest address on ties);
// - a block is split when the remainder is at least 512 B (small pool) or more than 1 MiB
//   (large pool), otherwise the whole block is handed out;
// - freed blocks merge with free neighbours of the same segment; segments are never
//   returned (no empty_cache), so reserved bytes only grow.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "estimate/allocation_trace.h"

namespace modelgrid {

struct AllocatorStats {
  uint64_t allocated_bytes = 0;  // bytes in blocks handed out now (after rounding)
  uint64_t reserved_bytes = 0;   // bytes in segments now
  uint64_t peak_allocated_bytes = 0;
  uint64_t peak_reserved_bytes = 0;
  uint64_t segments = 0;
};

class CachingAllocatorModel {
 public:
  // Allocates `bytes` and returns a handle for Free().
  uint64_t Malloc(uint64_t bytes);
  // Frees a handle returned by Malloc; unknown handles are ignored.
  void Free(uint64_t handle);

  // Replays a trace: its allocations get their own handles, its frees free them.
  // Allocations the trace leaves live stay allocated.
  void Replay(const AllocationTrace& trace);

  const AllocatorStats& stats() const { return stats_; }
  // Starts a new peak-measurement phase (like torch.cuda.reset_peak_memory_stats()).
  void ResetPeaks();

  static uint64_t RoundSize(uint64_t bytes);
  static uint64_t SegmentSize(uint64_t rounded_bytes);

 private:
  struct Block {
    uint64_t size = 0;
    uint64_t segment = 0;  // address of the segment's first block
    bool free = false;
    bool small = false;
  };
  using FreeSet = std::set<std::pair<uint64_t, uint64_t>>;  // (size, address)

  FreeSet& PoolFor(bool small) { return small ? small_free_ : large_free_; }
  void InsertFree(uint64_t address);

  std::map<uint64_t, Block> blocks_;  // address -> block (ordered: neighbours are adjacent)
  FreeSet small_free_;
  FreeSet large_free_;
  uint64_t next_segment_address_ = 0;
  AllocatorStats stats_;
};

}  // namespace modelgrid
