#include "ipc/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace modelgrid::ipc {
namespace {

Status OsError(const std::string& what) { return Internal(what + ": " + std::strerror(errno)); }

constexpr uint64_t AlignUp(uint64_t value, uint64_t align) {
  return (value + align - 1) / align * align;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

constexpr uint32_t kMaxRingCapacity = uint32_t{1} << 16;

}  // namespace

// Checks that the geometry in `h` fits `file_bytes` with regions in order and aligned, so
// every later access through ShmSegment's accessors stays inside the mapping.
Result<ShmSegment::Geometry> ShmSegment::CheckGeometry(const SegmentHeader& live,
                                                       uint64_t file_bytes) {
  SegmentHeader h;  // a private copy: the peer may write the live header concurrently
  std::memcpy(static_cast<void*>(&h), &live, offsetof(SegmentHeader, worker_pid));
  if (h.magic != kShmMagic) return CorruptData("shared-memory segment has a bad magic");
  if (h.version != kShmLayoutVersion) {
    return CorruptData("shared-memory layout version " + std::to_string(h.version) +
                       ", this build speaks " + std::to_string(kShmLayoutVersion));
  }
  if (h.header_bytes != sizeof(SegmentHeader) || h.message_bytes != sizeof(Message)) {
    return CorruptData("shared-memory segment has foreign struct sizes");
  }
  if (h.total_bytes != file_bytes) {
    return CorruptData("segment says " + std::to_string(h.total_bytes) + " bytes, file has " +
                       std::to_string(file_bytes));
  }
  for (uint32_t cap : {h.request_ring_capacity, h.response_ring_capacity}) {
    if (!IsPowerOfTwo(cap) || cap > kMaxRingCapacity) {
      return CorruptData("ring capacity " + std::to_string(cap) + " is not a power of two");
    }
  }
  const uint64_t req_end = h.request_ring_offset + RingRegionBytes(h.request_ring_capacity);
  const uint64_t resp_end = h.response_ring_offset + RingRegionBytes(h.response_ring_capacity);
  const bool ordered = h.request_ring_offset >= sizeof(SegmentHeader) &&
                       h.response_ring_offset >= req_end && h.arena_offset >= resp_end &&
                       h.arena_offset <= file_bytes && h.arena_bytes <= file_bytes - h.arena_offset;
  const bool aligned = h.request_ring_offset % kCacheLineBytes == 0 &&
                       h.response_ring_offset % kCacheLineBytes == 0 &&
                       h.arena_offset % kArenaAlignBytes == 0;
  if (!ordered || !aligned) return CorruptData("shared-memory regions overlap or overflow");
  return Geometry{h.request_ring_offset,    h.request_ring_capacity, h.response_ring_offset,
                  h.response_ring_capacity, h.arena_offset,          h.arena_bytes};
}

ShmSegment::ShmSegment(int fd, uint8_t* base, uint64_t total_bytes, const Geometry& geometry,
                       std::string unlink_name)
    : fd_(fd),
      base_(base),
      total_bytes_(total_bytes),
      geometry_(geometry),
      unlink_name_(std::move(unlink_name)) {}

ShmSegment::~ShmSegment() {
  munmap(base_, total_bytes_);
  close(fd_);
  if (!unlink_name_.empty()) shm_unlink(unlink_name_.c_str());
}

Result<std::unique_ptr<ShmSegment>> ShmSegment::Create(const std::string& name,
                                                       const ShmOptions& options) {
  if (!IsPowerOfTwo(options.request_ring_capacity) ||
      !IsPowerOfTwo(options.response_ring_capacity) ||
      options.request_ring_capacity > kMaxRingCapacity ||
      options.response_ring_capacity > kMaxRingCapacity) {
    return InvalidArgument("ring capacities must be powers of two up to 65536");
  }
  if (options.arena_bytes > (uint64_t{1} << 40)) {
    return InvalidArgument("arena_bytes over 1 TiB");
  }
  const uint64_t req_off = AlignUp(sizeof(SegmentHeader), kCacheLineBytes);
  const uint64_t resp_off = req_off + RingRegionBytes(options.request_ring_capacity);
  const uint64_t arena_off =
      AlignUp(resp_off + RingRegionBytes(options.response_ring_capacity), kArenaAlignBytes);
  const uint64_t arena_bytes = AlignUp(options.arena_bytes, kArenaAlignBytes);
  const uint64_t total = arena_off + arena_bytes;

  int fd = -1;
  std::string unlink_name;
  if (options.use_memfd) {
    fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return OsError("memfd_create(" + name + ")");
  } else {
    unlink_name = "/" + name;
    fd = shm_open(unlink_name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return OsError("shm_open(" + unlink_name + ")");
  }
  auto fail = [&](const std::string& what) {
    Status s = OsError(what);
    close(fd);
    if (!unlink_name.empty()) shm_unlink(unlink_name.c_str());
    return s;
  };
  if (ftruncate(fd, off_t(total)) != 0) return fail("ftruncate");
  if (options.use_memfd && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return fail("F_ADD_SEALS");
  }
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return fail("mmap");

  // The file is zero-filled, which is a valid initial state for every atomic field.
  auto* h = new (base) SegmentHeader{};
  h->version = kShmLayoutVersion;
  h->header_bytes = sizeof(SegmentHeader);
  h->total_bytes = total;
  h->message_bytes = sizeof(Message);
  h->request_ring_capacity = options.request_ring_capacity;
  h->response_ring_capacity = options.response_ring_capacity;
  h->request_ring_offset = req_off;
  h->response_ring_offset = resp_off;
  h->arena_offset = arena_off;
  h->arena_bytes = arena_bytes;
  new (static_cast<uint8_t*>(base) + req_off) RingHeader{};
  new (static_cast<uint8_t*>(base) + resp_off) RingHeader{};
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = kShmMagic;  // last: a segment with the magic is complete
  const Geometry geometry{req_off,   options.request_ring_capacity,
                          resp_off,  options.response_ring_capacity,
                          arena_off, arena_bytes};
  return std::unique_ptr<ShmSegment>(
      new ShmSegment(fd, static_cast<uint8_t*>(base), total, geometry, std::move(unlink_name)));
}

Result<std::unique_ptr<ShmSegment>> ShmSegment::MapAndValidate(int fd, std::string unlink_name) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    Status s = OsError("fstat");
    close(fd);
    return s;
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < sizeof(SegmentHeader)) {
    close(fd);
    return CorruptData("shared-memory segment of " + std::to_string(size) +
                       " bytes is smaller than its header");
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    Status s = OsError("mmap");
    close(fd);
    return s;
  }
  Result<Geometry> geometry = CheckGeometry(*static_cast<const SegmentHeader*>(base), size);
  if (!geometry.ok()) {
    munmap(base, size);
    close(fd);
    return geometry.status();
  }
  return std::unique_ptr<ShmSegment>(
      new ShmSegment(fd, static_cast<uint8_t*>(base), size, *geometry, std::move(unlink_name)));
}

Result<std::unique_ptr<ShmSegment>> ShmSegment::Attach(int fd) {
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return OsError("dup of segment fd");
  return MapAndValidate(own, "");
}

Result<std::unique_ptr<ShmSegment>> ShmSegment::AttachName(const std::string& name) {
  const std::string path = "/" + name;
  const int fd = shm_open(path.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return OsError("shm_open(" + path + ")");
  return MapAndValidate(fd, "");
}

RequestRing ShmSegment::requests() const {
  const Geometry& g = geometry_;
  return RequestRing(reinterpret_cast<RingHeader*>(base_ + g.request_ring_offset),
                     reinterpret_cast<Message*>(base_ + RingSlotsOffset(g.request_ring_offset)),
                     g.request_ring_capacity);
}

ResponseRing ShmSegment::responses() const {
  const Geometry& g = geometry_;
  return ResponseRing(reinterpret_cast<RingHeader*>(base_ + g.response_ring_offset),
                      reinterpret_cast<Message*>(base_ + RingSlotsOffset(g.response_ring_offset)),
                      g.response_ring_capacity);
}

void ShmSegment::Reset() {
  SegmentHeader& h = header();
  for (RingHeader* ring : {requests().header(), responses().header()}) {
    ring->head.store(0, std::memory_order_relaxed);
    ring->tail.store(0, std::memory_order_relaxed);
    ring->consumer_waiting.store(0, std::memory_order_relaxed);
    ring->producer_waiting.store(0, std::memory_order_relaxed);
    // Bumped and woken so a server thread blocked in Pop/Push re-checks the emptied ring.
    ring->data_seq.fetch_add(1, std::memory_order_seq_cst);
    ring->space_seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWakeAll(&ring->data_seq);
    FutexWakeAll(&ring->space_seq);
  }
  h.worker_pid.store(0, std::memory_order_relaxed);
  h.worker_state.store(uint32_t(WorkerState::kStarting), std::memory_order_relaxed);
  h.heartbeat_count.store(0, std::memory_order_relaxed);
  h.heartbeat_mono_ms.store(0, std::memory_order_relaxed);
  h.generation.fetch_add(1, std::memory_order_seq_cst);
}

}  // namespace modelgrid::ipc
