#include "ipc/heartbeat.h"

#include <time.h>

namespace modelgrid::ipc {

uint64_t MonotonicNowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

void Heartbeat::Beat(uint64_t now_ms) {
  // Timestamp first, count second (release): a reader that sees the new count sees a
  // timestamp at least as new.
  header_->heartbeat_mono_ms.store(now_ms, std::memory_order_relaxed);
  header_->heartbeat_count.fetch_add(1, std::memory_order_release);
}

uint64_t Heartbeat::count() const {
  return header_->heartbeat_count.load(std::memory_order_acquire);
}

uint64_t Heartbeat::last_beat_ms() const {
  return header_->heartbeat_mono_ms.load(std::memory_order_acquire);
}

bool Heartbeat::IsAlive(uint64_t max_age_ms, uint64_t now_ms) const {
  if (count() == 0) return false;
  const uint64_t last_ms = last_beat_ms();
  return last_ms >= now_ms || now_ms - last_ms <= max_age_ms;
}

}  // namespace modelgrid::ipc
