#include "ipc/arena.h"

#include <string>

#include "ipc/shm_layout.h"

namespace modelgrid::ipc {
namespace {

uint64_t RoundUp(uint64_t bytes) {
  return (bytes + kArenaAlignBytes - 1) / kArenaAlignBytes * kArenaAlignBytes;
}

}  // namespace

ArenaAllocator::ArenaAllocator(uint64_t capacity_bytes)
    : capacity_bytes_(capacity_bytes / kArenaAlignBytes * kArenaAlignBytes) {
  Reset();
}

void ArenaAllocator::Reset() {
  free_.clear();
  used_.clear();
  free_bytes_ = capacity_bytes_;
  if (capacity_bytes_ > 0) free_[0] = capacity_bytes_;
}

Result<uint64_t> ArenaAllocator::Allocate(uint64_t bytes) {
  if (bytes > capacity_bytes_) {
    return ResourceExhausted("tensors of " + std::to_string(bytes) +
                             " bytes exceed the worker's shared-memory arena of " +
                             std::to_string(capacity_bytes_) + " bytes");
  }
  const uint64_t need = RoundUp(bytes == 0 ? 1 : bytes);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    const uint64_t offset = it->first;
    const uint64_t rest = it->second - need;
    free_.erase(it);
    if (rest > 0) free_[offset + need] = rest;
    used_[offset] = need;
    free_bytes_ -= need;
    return offset;
  }
  return ResourceExhausted("shared-memory arena has no free block of " + std::to_string(need) +
                           " bytes now (" + std::to_string(free_bytes_) + " of " +
                           std::to_string(capacity_bytes_) +
                           " bytes free); in-flight requests hold the rest");
}

Status ArenaAllocator::Free(uint64_t offset) {
  auto used = used_.find(offset);
  if (used == used_.end()) {
    return InvalidArgument("arena offset " + std::to_string(offset) + " is not allocated");
  }
  uint64_t start = offset;
  uint64_t bytes = used->second;
  used_.erase(used);
  free_bytes_ += bytes;
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && next->first == offset + bytes) {  // merge with the block after
    bytes += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {  // merge with the block before
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      bytes += prev->second;
      free_.erase(prev);
    }
  }
  free_[start] = bytes;
  return Status::Ok();
}

uint64_t RegionWriter::RegionBytesFor(const std::vector<uint64_t>& tensor_bytes) {
  uint64_t total = 0;
  for (uint64_t bytes : tensor_bytes) total += RoundUp(bytes);
  return total;
}

Result<uint64_t> RegionWriter::Allocate(uint64_t bytes) {
  const uint64_t need = RoundUp(bytes);
  if (need < bytes || need > end_ - next_) {
    return ResourceExhausted("outputs need " + std::to_string(bytes) + " more bytes but the " +
                             "response region has " + std::to_string(end_ - next_) + " left");
  }
  const uint64_t offset = next_;
  next_ += need;
  return offset;
}

}  // namespace modelgrid::ipc
