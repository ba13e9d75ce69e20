// Doorbell: an eventfd that one side rings after pushing to a ring, so the other side can
// sleep in epoll/asio over many workers instead of one thread per ring.
//
// The rings' own futex waits serve one dedicated thread per ring; the doorbell serves an
// event loop. Pass fd() to the worker along with the segment fd (it is FD_CLOEXEC).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace modelgrid::ipc {

class Doorbell {
 public:
  // A new non-blocking eventfd.
  static Result<Doorbell> Create();
  // Takes ownership of an eventfd received from the other process.
  static Doorbell Adopt(int fd) { return Doorbell(fd); }

  Doorbell(Doorbell&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Doorbell& operator=(Doorbell&& other) noexcept;
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;
  ~Doorbell();

  // Adds one ring; never blocks. Thread-safe.
  Status Ring() const;
  // Returns the rings since the last Drain (0 if none) and resets the count. Never blocks.
  uint64_t Drain();
  // Blocks until rung or `timeout_ms` passes, without draining. True when rung.
  bool Wait(uint32_t timeout_ms);

  int fd() const { return fd_; }

 private:
  explicit Doorbell(int fd) : fd_(fd) {}
  int fd_;
};

// Waits on many descriptors at once (doorbells, pidfds): an epoll set of (fd, key) pairs.
// Not thread-safe; one thread calls Wait. Does not own the descriptors.
class DoorbellPoller {
 public:
  static Result<DoorbellPoller> Create();
  DoorbellPoller(DoorbellPoller&& other) noexcept : epoll_fd_(other.epoll_fd_) {
    other.epoll_fd_ = -1;
  }
  DoorbellPoller(const DoorbellPoller&) = delete;
  DoorbellPoller& operator=(const DoorbellPoller&) = delete;
  ~DoorbellPoller();

  // Watches `fd` for readability; Wait reports `key` when it is readable.
  Status Add(int fd, uint64_t key);
  Status Remove(int fd);
  // The keys of the readable descriptors, empty after `timeout_ms` with none.
  Result<std::vector<uint64_t>> Wait(uint32_t timeout_ms);

 private:
  explicit DoorbellPoller(int epoll_fd) : epoll_fd_(epoll_fd) {}
  int epoll_fd_;
};

}  // namespace modelgrid::ipc
