// ShmSegment: one shared-memory segment per worker (header, two rings, tensor arena).
//
// The server Create()s the segment, hands fd() to the worker process (memfd: inherit it
// across fork/exec), and the worker Attach()es it. Attach validates the magic, version and
// geometry against the file size, so a mismatched or truncated segment is refused rather than
// read out of bounds. A memfd segment is sealed against resizing, so a hostile worker cannot
// shrink it under the server (which would turn reads into SIGBUS).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "ipc/ring.h"
#include "ipc/shm_layout.h"

namespace modelgrid::ipc {

struct ShmOptions {
  uint32_t request_ring_capacity = 64;        // messages in flight to the worker; power of two
  uint32_t response_ring_capacity = 64;       // messages in flight back; power of two
  uint64_t arena_bytes = uint64_t{64} << 20;  // tensor bytes of all in-flight requests
  // true: memfd_create (anonymous; pass fd() to the child). false: shm_open("/<name>"),
  // visible under /dev/shm and unlinked when the creating ShmSegment is destroyed.
  bool use_memfd = true;
};

class ShmSegment {
 public:
  // Creates and initialises a segment. `name` labels the memfd (for /proc) or names the
  // POSIX shared-memory object (no leading '/'; one is added). Fails with kInvalidArgument
  // for bad options, kInternal when the OS refuses.
  static Result<std::unique_ptr<ShmSegment>> Create(const std::string& name,
                                                    const ShmOptions& options);
  // Maps an existing segment from `fd` (the caller keeps its own fd; this one is dup'ed).
  // Fails with kCorruptData when the magic, version or geometry do not check out.
  static Result<std::unique_ptr<ShmSegment>> Attach(int fd);
  // Maps a segment created with use_memfd = false.
  static Result<std::unique_ptr<ShmSegment>> AttachName(const std::string& name);

  // Unmaps and closes; the creator of a shm_open segment also unlinks its name.
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // The descriptor backing the mapping (owned; FD_CLOEXEC is set: clear it in the child
  // or dup2 it before exec).
  int fd() const { return fd_; }
  SegmentHeader& header() const { return *reinterpret_cast<SegmentHeader*>(base_); }
  uint64_t total_bytes() const { return total_bytes_; }

  // Arena bytes, valid while this object lives. Offsets in TensorDesc are from here.
  std::byte* arena() const { return reinterpret_cast<std::byte*>(base_ + geometry_.arena_offset); }
  uint64_t arena_bytes() const { return geometry_.arena_bytes; }

  // Ring views over the shared memory; cheap, valid while this object lives. Each process
  // must use a ring in one role only: the server produces requests and consumes responses.
  RequestRing requests() const;
  ResponseRing responses() const;

  // Server only, after the worker is known dead (waitpid/pidfd said so): empties both rings,
  // clears the heartbeat and the worker fields, and bumps the generation. The server must
  // also reset its ArenaAllocator. Not safe while a worker is still attached.
  void Reset();

 private:
  // Region geometry, copied out of the header once and validated: the accessors use only
  // this copy, so a peer that rewrites the header later cannot move them out of bounds.
  struct Geometry {
    uint64_t request_ring_offset = 0;
    uint32_t request_ring_capacity = 0;
    uint64_t response_ring_offset = 0;
    uint32_t response_ring_capacity = 0;
    uint64_t arena_offset = 0;
    uint64_t arena_bytes = 0;
  };
  ShmSegment(int fd, uint8_t* base, uint64_t total_bytes, const Geometry& geometry,
             std::string unlink_name);
  static Result<std::unique_ptr<ShmSegment>> MapAndValidate(int fd, std::string unlink_name);
  static Result<Geometry> CheckGeometry(const SegmentHeader& h, uint64_t file_bytes);

  int fd_;
  uint8_t* base_;
  uint64_t total_bytes_;
  Geometry geometry_;
  std::string unlink_name_;  // non-empty: shm_unlink on destruction
};

}  // namespace modelgrid::ipc
