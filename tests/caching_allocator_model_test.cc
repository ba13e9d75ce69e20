#include "estimate/caching_allocator_model.h"

#include <gtest/gtest.h>

namespace modelgrid {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(CachingAllocatorModel, RoundsTo512AndPicksSegmentSizes) {
  EXPECT_EQ(CachingAllocatorModel::RoundSize(1), 512u);
  EXPECT_EQ(CachingAllocatorModel::RoundSize(513), 1024u);
  EXPECT_EQ(CachingAllocatorModel::SegmentSize(1 * kMiB), 2 * kMiB);
  EXPECT_EQ(CachingAllocatorModel::SegmentSize(1 * kMiB + 512), 20 * kMiB);
  EXPECT_EQ(CachingAllocatorModel::SegmentSize(10 * kMiB), 10 * kMiB);
  EXPECT_EQ(CachingAllocatorModel::SegmentSize(10 * kMiB + 1), 12 * kMiB);
}

TEST(CachingAllocatorModel, SmallRequestsShareOneSegment) {
  CachingAllocatorModel a;
  for (int i = 0; i < 4; ++i) a.Malloc(256 * 1024);
  EXPECT_EQ(a.stats().reserved_bytes, 2 * kMiB);
  EXPECT_EQ(a.stats().allocated_bytes, 1 * kMiB);
  a.Malloc(1 * kMiB + 1);  // large pool: a 20 MiB segment
  EXPECT_EQ(a.stats().reserved_bytes, 22 * kMiB);
}

TEST(CachingAllocatorModel, FreedBlocksAreReusedAndMerged) {
  CachingAllocatorModel a;
  uint64_t x = a.Malloc(4 * kMiB);
  uint64_t y = a.Malloc(4 * kMiB);
  a.Free(x);
  a.Free(y);
  EXPECT_EQ(a.stats().allocated_bytes, 0u);
  // The two halves merged back with the tail: a 19 MiB request fits without a new segment.
  a.Malloc(19 * kMiB);
  EXPECT_EQ(a.stats().reserved_bytes, 20 * kMiB);
  EXPECT_EQ(a.stats().segments, 1u);
}

TEST(CachingAllocatorModel, LargeBlockRemainderUnder1MiBIsNotSplit) {
  CachingAllocatorModel a;
  a.Malloc(19 * kMiB + 512 * 1024);  // leaves 512 KiB in the 20 MiB segment: kept whole
  EXPECT_EQ(a.stats().allocated_bytes, 20 * kMiB);
}

TEST(CachingAllocatorModel, FragmentationGrowsReserved) {
  CachingAllocatorModel a;
  uint64_t x = a.Malloc(12 * kMiB);
  a.Malloc(12 * kMiB);
  a.Free(x);
  a.Malloc(14 * kMiB);  // does not fit the 12 MiB hole: a new segment
  EXPECT_EQ(a.stats().reserved_bytes, 38 * kMiB);
  EXPECT_EQ(a.stats().peak_allocated_bytes, 26 * kMiB);
}

TEST(CachingAllocatorModel, ReplaysATraceAndTracksPeaks) {
  AllocationTrace t;
  uint32_t a = t.Alloc(30 * kMiB);
  uint32_t b = t.Alloc(30 * kMiB);
  t.Free(a);
  t.Free(b);
  t.Alloc(50 * kMiB);  // fits neither freed 30 MiB segment
  CachingAllocatorModel m;
  m.Replay(t);
  EXPECT_EQ(t.PeakLiveBytes(), 60 * kMiB);
  EXPECT_EQ(m.stats().peak_reserved_bytes, 110 * kMiB);
  EXPECT_EQ(m.stats().allocated_bytes, 50 * kMiB);
  m.ResetPeaks();
  EXPECT_EQ(m.stats().peak_allocated_bytes, 50 * kMiB);
}

TEST(AllocationTrace, IgnoresDoubleAndUnknownFrees) {
  AllocationTrace t;
  uint32_t a = t.Alloc(100);
  t.Free(a);
  t.Free(a);
  t.Free(12345);
  EXPECT_EQ(t.events().size(), 2u);
  t.Alloc(7);
  EXPECT_EQ(t.LiveBytesAtEnd(), 7u);
  t.FreeAll();
  EXPECT_EQ(t.LiveBytesAtEnd(), 0u);
}

}  // namespace
}  // namespace modelgrid
