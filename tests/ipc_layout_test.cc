// The shared-memory layout, message validation, the arena allocator and segment attach.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>

#include <gtest/gtest.h>

#include "ipc/arena.h"
#include "ipc/message.h"
#include "ipc/shm_layout.h"
#include "ipc/shm_segment.h"

namespace modelgrid::ipc {
namespace {

TEST(IpcLayout, StructsArePlainAndPinned) {
  static_assert(std::is_standard_layout_v<Message>);
  static_assert(std::is_trivially_copyable_v<Message>);
  static_assert(std::is_standard_layout_v<TensorDesc>);
  static_assert(std::is_standard_layout_v<SegmentHeader>);
  static_assert(std::is_standard_layout_v<RingHeader>);
  static_assert(alignof(Message) == kCacheLineBytes);
  static_assert(alignof(RingHeader) == kCacheLineBytes);
  static_assert(alignof(SegmentHeader) == kCacheLineBytes);
  EXPECT_EQ(sizeof(Message), 1152u);
  EXPECT_EQ(sizeof(TensorDesc), 120u);
  EXPECT_EQ(RingRegionBytes(4), sizeof(RingHeader) + 4 * sizeof(Message));
  EXPECT_EQ(WireDTypeBytes(uint8_t(WireDType::kF32)), 4u);
  EXPECT_EQ(WireDTypeBytes(uint8_t(WireDType::kBytes)), 0u);
  EXPECT_EQ(WireDTypeBytes(200), 0u);
}

TEST(IpcMessage, AddTensorChecksShapeNameAndCount) {
  Message m = MakeMessage(7, Op::kInfer, 3);
  EXPECT_TRUE(AddTensor(&m, WireDType::kF32, {2, 3}, 0, 24, "input__0").ok());
  EXPECT_EQ(TensorName(m.tensors[0]), "input__0");
  EXPECT_EQ(AddTensor(&m, WireDType::kF32, {2, 3}, 0, 20, "x").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(AddTensor(&m, WireDType::kU8, {1}, 0, 1, std::string(32, 'n')).code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(AddTensor(&m, WireDType::kU8, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 1, "x").code(),
            StatusCode::kOutOfRange);
  while (m.num_tensors < kMaxTensorsPerMessage) {
    ASSERT_TRUE(AddTensor(&m, WireDType::kBytes, {5}, 64, 9, "blob").ok());
  }
  EXPECT_EQ(AddTensor(&m, WireDType::kU8, {1}, 0, 1, "x").code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(ValidateMessage(m, 1024).ok());
}

TEST(IpcMessage, CorruptDescriptorsAreRejected) {
  const uint64_t arena_bytes = 4096;
  Message good = MakeMessage(1, Op::kInfer, 0);
  ASSERT_TRUE(AddTensor(&good, WireDType::kI64, {4}, 128, 32, "t").ok());
  ASSERT_TRUE(ValidateMessage(good, arena_bytes).ok());

  struct Case {
    const char* what;
    void (*corrupt)(Message*);
  };
  const Case cases[] = {
      {"offset past arena", [](Message* m) { m->tensors[0].arena_offset = 4096 - 16; }},
      {"offset overflow", [](Message* m) { m->tensors[0].arena_offset = ~uint64_t{0} - 8; }},
      {"huge bytes", [](Message* m) { m->tensors[0].bytes = ~uint64_t{0}; }},
      {"bytes vs shape", [](Message* m) { m->tensors[0].bytes = 40; }},
      {"negative dim", [](Message* m) { m->tensors[0].dims[0] = -4; }},
      {"dims overflow",
       [](Message* m) {
         m->tensors[0].ndims = 3;
         m->tensors[0].dims[1] = int64_t{1} << 40;
         m->tensors[0].dims[2] = int64_t{1} << 40;
       }},
      {"ndims", [](Message* m) { m->tensors[0].ndims = 9; }},
      {"dtype", [](Message* m) { m->tensors[0].dtype = 99; }},
      {"name", [](Message* m) { std::memset(m->tensors[0].name, 'x', kTensorNameBytes); }},
      {"num_tensors", [](Message* m) { m->num_tensors = 9; }},
      {"op", [](Message* m) { m->op = 77; }},
      {"op none", [](Message* m) { m->op = 0; }},
  };
  for (const Case& c : cases) {
    Message m = good;
    c.corrupt(&m);
    EXPECT_EQ(ValidateMessage(m, arena_bytes).code(), StatusCode::kCorruptData) << c.what;
  }
  Message unterminated = good;
  std::memset(unterminated.tensors[0].name, 'x', kTensorNameBytes);
  EXPECT_EQ(TensorName(unterminated.tensors[0]).size(), kTensorNameBytes);
}

TEST(IpcMessage, ResponseMustStayInsideItsRegion) {
  Message r = MakeMessage(5, Op::kInfer, 0);
  ASSERT_TRUE(AddTensor(&r, WireDType::kU8, {64}, 256, 64, "out").ok());
  EXPECT_TRUE(ValidateResponse(r, 4096, 256, 64).ok());
  EXPECT_EQ(ValidateResponse(r, 4096, 256, 63).code(), StatusCode::kCorruptData);
  EXPECT_EQ(ValidateResponse(r, 4096, 320, 1024).code(), StatusCode::kCorruptData);
}

TEST(IpcMessage, TensorBytesIsBoundsChecked) {
  std::byte arena[256];
  TensorDesc d{};
  d.arena_offset = 200;
  d.bytes = 56;
  auto ok = TensorBytes(arena, sizeof(arena), d);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->data(), arena + 200);
  d.bytes = 57;
  EXPECT_EQ(TensorBytes(arena, sizeof(arena), d).status().code(), StatusCode::kCorruptData);
}

TEST(IpcMessage, StatusRoundTrip) {
  Message m = MakeMessage(1, Op::kInfer, 0);
  SetStatus(&m, ResourceExhausted(std::string(500, 'e')));
  Status s = StatusOf(m);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message().size(), kMessageTextBytes - 1);
  m.status_code = 999;
  EXPECT_EQ(StatusOf(m).code(), StatusCode::kInternal);
  SetStatus(&m, Status::Ok());
  EXPECT_TRUE(StatusOf(m).ok());
}

TEST(IpcArena, AllocateFreeCoalesce) {
  ArenaAllocator a(1024);
  auto x = a.Allocate(100);  // 128
  auto y = a.Allocate(64);
  auto z = a.Allocate(0);  // one unit, distinct offset
  ASSERT_TRUE(x.ok() && y.ok() && z.ok());
  EXPECT_EQ(*x, 0u);
  EXPECT_EQ(*y, 128u);
  EXPECT_EQ(*z, 192u);
  EXPECT_EQ(a.free_bytes(), 1024u - 256u);
  EXPECT_TRUE(a.Free(*y).ok());
  EXPECT_EQ(a.Free(*y).code(), StatusCode::kInvalidArgument);  // double free
  EXPECT_EQ(a.Free(5).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(a.Free(*x).ok());
  EXPECT_TRUE(a.Free(*z).ok());
  EXPECT_EQ(a.free_bytes(), 1024u);
  auto all = a.Allocate(1024);  // only possible if the three blocks coalesced
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 0u);
}

TEST(IpcArena, TooBigAndFullAreResourceExhausted) {
  ArenaAllocator a(1024);
  auto too_big = a.Allocate(4096);
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find("exceed"), std::string::npos);
  ASSERT_TRUE(a.Allocate(1000).ok());
  auto full = a.Allocate(64);
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("in-flight"), std::string::npos);
  a.Reset();
  EXPECT_EQ(a.allocation_count(), 0u);
  EXPECT_TRUE(a.Allocate(1024).ok());
}

TEST(IpcArena, RegionWriterStaysInItsRegion) {
  RegionWriter w(640, 200);
  auto a = w.Allocate(100);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 640u);
  EXPECT_EQ(w.Allocate(100).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(w.Allocate(64).ok());
  EXPECT_EQ(w.Allocate(~uint64_t{0}).status().code(), StatusCode::kResourceExhausted);
}

TEST(ShmSegment, CreateAttachShareMemory) {
  ShmOptions options;
  options.request_ring_capacity = 8;
  options.response_ring_capacity = 4;
  options.arena_bytes = 100'000;
  auto server = ShmSegment::Create("mg-test", options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto worker = ShmSegment::Attach((*server)->fd());
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  EXPECT_EQ((*worker)->arena_bytes(), (*server)->arena_bytes());
  EXPECT_EQ((*server)->arena_bytes() % kArenaAlignBytes, 0u);
  EXPECT_EQ((*worker)->requests().capacity(), 8u);
  EXPECT_EQ((*worker)->responses().capacity(), 4u);
  (*server)->arena()[99] = std::byte{42};
  EXPECT_EQ((*worker)->arena()[99], std::byte{42});
  EXPECT_EQ((*worker)->header().version, kShmLayoutVersion);
}

TEST(ShmSegment, BadOptionsAndSealedSize) {
  ShmOptions options;
  options.request_ring_capacity = 6;
  EXPECT_EQ(ShmSegment::Create("mg-test", options).status().code(), StatusCode::kInvalidArgument);
  auto seg = ShmSegment::Create("mg-test", ShmOptions{});
  ASSERT_TRUE(seg.ok());
  // A worker cannot shrink the segment under the server.
  EXPECT_NE(ftruncate((*seg)->fd(), 4096), 0);
}

TEST(ShmSegment, AttachRejectsWrongMagicVersionAndSize) {
  auto seg = ShmSegment::Create("mg-test", ShmOptions{});
  ASSERT_TRUE(seg.ok());
  SegmentHeader& h = (*seg)->header();
  h.version = kShmLayoutVersion + 1;
  EXPECT_EQ(ShmSegment::Attach((*seg)->fd()).status().code(), StatusCode::kCorruptData);
  h.version = kShmLayoutVersion;
  h.magic = 0;
  EXPECT_EQ(ShmSegment::Attach((*seg)->fd()).status().code(), StatusCode::kCorruptData);
  h.magic = kShmMagic;
  h.arena_bytes += 4096;  // past the end of the file
  EXPECT_EQ(ShmSegment::Attach((*seg)->fd()).status().code(), StatusCode::kCorruptData);
  h.arena_bytes -= 4096;
  h.response_ring_capacity = 3;
  EXPECT_EQ(ShmSegment::Attach((*seg)->fd()).status().code(), StatusCode::kCorruptData);
  h.response_ring_capacity = 64;
  EXPECT_TRUE(ShmSegment::Attach((*seg)->fd()).ok());

  const int tiny = memfd_create("mg-tiny", MFD_CLOEXEC);
  ASSERT_GE(tiny, 0);
  ASSERT_EQ(ftruncate(tiny, 16), 0);
  EXPECT_EQ(ShmSegment::Attach(tiny).status().code(), StatusCode::kCorruptData);
  close(tiny);
}

TEST(ShmSegment, NamedSegmentIsUnlinkedByItsCreator) {
  ShmOptions options;
  options.use_memfd = false;
  options.arena_bytes = 4096;
  const std::string name = "modelgrid-ipc-test-" + std::to_string(getpid());
  {
    auto seg = ShmSegment::Create(name, options);
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    auto other = ShmSegment::AttachName(name);
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    (*seg)->arena()[0] = std::byte{7};
    EXPECT_EQ((*other)->arena()[0], std::byte{7});
  }
  EXPECT_FALSE(ShmSegment::AttachName(name).ok());
}

}  // namespace
}  // namespace modelgrid::ipc
