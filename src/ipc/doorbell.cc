#include "ipc/doorbell.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace modelgrid::ipc {
namespace {

Status OsError(const std::string& what) { return Internal(what + ": " + std::strerror(errno)); }

}  // namespace

Result<Doorbell> Doorbell::Create() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return OsError("eventfd");
  return Doorbell(fd);
}

Doorbell& Doorbell::operator=(Doorbell&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Doorbell::~Doorbell() {
  if (fd_ >= 0) close(fd_);
}

Status Doorbell::Ring() const {
  const uint64_t one = 1;
  // EAGAIN means the counter is at its maximum: the reader is already due to wake.
  if (write(fd_, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN) {
    return OsError("eventfd write");
  }
  return Status::Ok();
}

uint64_t Doorbell::Drain() {
  uint64_t count = 0;
  if (read(fd_, &count, sizeof(count)) != sizeof(count)) return 0;
  return count;
}

bool Doorbell::Wait(uint32_t timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, int(timeout_ms)) > 0 && (p.revents & POLLIN) != 0;
}

Result<DoorbellPoller> DoorbellPoller::Create() {
  const int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return OsError("epoll_create1");
  return DoorbellPoller(fd);
}

DoorbellPoller::~DoorbellPoller() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

Status DoorbellPoller::Add(int fd, uint64_t key) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return OsError("epoll_ctl add");
  return Status::Ok();
}

Status DoorbellPoller::Remove(int fd) {
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) != 0) return OsError("epoll_ctl del");
  return Status::Ok();
}

Result<std::vector<uint64_t>> DoorbellPoller::Wait(uint32_t timeout_ms) {
  epoll_event events[64];
  int n = epoll_wait(epoll_fd_, events, 64, int(timeout_ms));
  if (n < 0 && errno != EINTR) return OsError("epoll_wait");
  std::vector<uint64_t> keys;
  for (int i = 0; i < n; ++i) keys.push_back(events[i].data.u64);
  return keys;
}

}  // namespace modelgrid::ipc
