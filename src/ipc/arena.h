// Tensor arena bookkeeping.
//
// The server is the only allocator of arena space: for every in-flight request it allocates
// the input tensors' bytes and a response region the worker may write its outputs into
// (Message::response_offset/bytes). The bookkeeping lives in the server's own memory, not in
// the segment, so a worker that crashes or lies cannot corrupt it; after a worker death the
// server calls Reset(). The worker only bump-allocates inside the region it was given
// (RegionWriter), and the server checks every response descriptor lies inside that region.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "common/status.h"

namespace modelgrid::ipc {

// First-fit allocator over [0, capacity_bytes) with coalescing frees. Offsets and sizes
// are rounded to kArenaAlignBytes. Not thread-safe: one server thread owns it (or the caller
// locks). Frees may come in any order.
class ArenaAllocator {
 public:
  explicit ArenaAllocator(uint64_t capacity_bytes);

  // Reserves `bytes` (0 reserves one alignment unit, so every allocation has a distinct
  // offset). kResourceExhausted when the request can never fit (larger than the arena) or
  // does not fit now (in-flight requests hold the space: retry after they finish); the
  // message says which.
  Result<uint64_t> Allocate(uint64_t bytes);
  // Returns an allocation. kInvalidArgument if `offset` is not the start of one.
  Status Free(uint64_t offset);
  // Forgets every allocation (after the worker died and the segment was reset).
  void Reset();

  uint64_t capacity_bytes() const { return capacity_bytes_; }
  uint64_t free_bytes() const { return free_bytes_; }
  uint64_t allocation_count() const { return used_.size(); }

 private:
  uint64_t capacity_bytes_;
  uint64_t free_bytes_ = 0;
  std::map<uint64_t, uint64_t> free_;  // offset -> bytes, no two adjacent
  std::map<uint64_t, uint64_t> used_;  // offset -> bytes
};

// Worker side: hands out aligned pieces of the response region [offset, offset + bytes)
// that the server gave a request. Not thread-safe; one per request.
class RegionWriter {
 public:
  RegionWriter(uint64_t region_offset, uint64_t region_bytes)
      : next_(region_offset), end_(region_offset + region_bytes) {}
  // The arena offset of `bytes` fresh bytes; kResourceExhausted (with the sizes) when the
  // region is too small.
  Result<uint64_t> Allocate(uint64_t bytes);
  // The region size that tensors of these sizes need, alignment included.
  static uint64_t RegionBytesFor(const std::vector<uint64_t>& tensor_bytes);

 private:
  uint64_t next_;
  uint64_t end_;
};

}  // namespace modelgrid::ipc
