#include "ipc/ring.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace modelgrid::ipc {
namespace {

uint64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Waits until `ready()` holds, sleeping on `seq` with `waiting` as the sleeper's flag. The
// Dekker pattern (store waiting, load seq, re-check; the other side bumps seq, then loads
// waiting, all seq_cst) guarantees that a wake-up between the check and the sleep is seen.
template <typename Ready>
Status WaitUntil(Ready ready, std::atomic<uint32_t>* seq, std::atomic<uint32_t>* waiting,
                 uint32_t timeout_ms, uint32_t spin_iterations, const Ring& ring,
                 const char* what) {
  for (uint32_t i = 0; i < spin_iterations; ++i) {
    if (ready()) return Status::Ok();
    CpuRelax();
  }
  const uint64_t deadline_ms = NowMs() + timeout_ms;
  while (true) {
    if (ring.corrupt()) return CorruptData("ring indices are inconsistent");
    waiting->store(kSleepsOnFutex, std::memory_order_seq_cst);
    const uint32_t observed = seq->load(std::memory_order_seq_cst);
    if (ready()) {
      waiting->store(0, std::memory_order_relaxed);
      return Status::Ok();
    }
    const uint64_t now_ms = NowMs();
    if (now_ms >= deadline_ms) {
      waiting->store(0, std::memory_order_relaxed);
      return Status(StatusCode::kUnavailable,
                    std::string(what) + " timed out after " + std::to_string(timeout_ms) + " ms");
    }
    FutexWait(seq, observed, uint32_t(deadline_ms - now_ms));
  }
}

}  // namespace

bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected, uint32_t timeout_ms) {
  timespec timeout{};
  timeout.tv_sec = timeout_ms / 1000;
  timeout.tv_nsec = long(timeout_ms % 1000) * 1'000'000;
  // std::atomic<uint32_t> is lock-free and 4 bytes (shm_layout.h asserts it), so its address
  // is the address of the futex word.
  long rc = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &timeout,
                    nullptr, 0);
  return !(rc == -1 && errno == ETIMEDOUT);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

bool Ring::corrupt() const {
  const uint64_t head = header_->head.load(std::memory_order_acquire);
  const uint64_t tail = header_->tail.load(std::memory_order_acquire);
  return tail - head > capacity_;  // also catches head > tail (wraps to a huge value)
}

uint64_t Ring::size() const {
  const uint64_t head = header_->head.load(std::memory_order_acquire);
  const uint64_t tail = header_->tail.load(std::memory_order_acquire);
  return tail - head > capacity_ ? 0 : tail - head;
}

bool Ring::TryPush(const Message& msg) {
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  const uint64_t head = header_->head.load(std::memory_order_acquire);
  if (tail - head >= capacity_) return false;  // full, or corrupt
  std::memcpy(&slots_[tail & (capacity_ - 1)], &msg, sizeof(Message));
  header_->tail.store(tail + 1, std::memory_order_release);
  header_->data_seq.fetch_add(1, std::memory_order_seq_cst);
  const uint32_t waiting = header_->consumer_waiting.load(std::memory_order_seq_cst);
  if (waiting == 0) return true;
  // One system call, not two: a consumer in an event loop sleeps on its doorbell, one in
  // Pop on the futex. Any other value (the peer may write anything) gets the futex wake.
  if (waiting == kSleepsOnDoorbell && doorbells_ != nullptr && !doorbells_->empty()) {
    (void)(*doorbells_)[msg.reply_doorbell % doorbells_->size()].Ring();
  } else {
    FutexWakeAll(&header_->data_seq);
  }
  return true;
}

bool Ring::TryPop(Message* out) {
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  const uint64_t tail = header_->tail.load(std::memory_order_acquire);
  if (tail == head || tail - head > capacity_) return false;  // empty, or corrupt
  std::memcpy(out, &slots_[head & (capacity_ - 1)], sizeof(Message));
  header_->head.store(head + 1, std::memory_order_release);
  header_->space_seq.fetch_add(1, std::memory_order_seq_cst);
  if (header_->producer_waiting.load(std::memory_order_seq_cst) != 0) {
    FutexWakeAll(&header_->space_seq);
  }
  return true;
}

void Ring::Wake() { header_->consumer_waiting.store(0, std::memory_order_seq_cst); }

bool Ring::Sleep() {
  header_->consumer_waiting.store(kSleepsOnDoorbell, std::memory_order_seq_cst);
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  if (header_->tail.load(std::memory_order_seq_cst) == head || corrupt()) return true;
  Wake();
  return false;
}

Status Ring::Push(const Message& msg, uint32_t timeout_ms, uint32_t spin_iterations) {
  return WaitUntil([&] { return TryPush(msg); }, &header_->space_seq, &header_->producer_waiting,
                   timeout_ms, spin_iterations, *this, "ring push");
}

Status Ring::Pop(Message* out, uint32_t timeout_ms, uint32_t spin_iterations) {
  return WaitUntil([&] { return TryPop(out); }, &header_->data_seq, &header_->consumer_waiting,
                   timeout_ms, spin_iterations, *this, "ring pop");
}

}  // namespace modelgrid::ipc
