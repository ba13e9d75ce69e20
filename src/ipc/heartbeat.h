// Heartbeat: the worker bumps a counter and a CLOCK_MONOTONIC timestamp in the segment
// header; the server reads them to tell a live worker from a hung one.
//
// Liveness of the process itself comes from waitpid/pidfd (ProcessManager); the heartbeat
// catches workers that are alive but stuck. Both sides share CLOCK_MONOTONIC because they run
// on one machine. Tests inject `now_ms` instead of sleeping.
#pragma once

#include <cstdint>

#include "ipc/shm_layout.h"

namespace modelgrid::ipc {

// CLOCK_MONOTONIC in milliseconds, the clock heartbeats are stamped with.
uint64_t MonotonicNowMs();

// A view of the heartbeat fields of one segment; valid while the segment is mapped.
// Beat() from the worker only; the readers from any thread of the server.
class Heartbeat {
 public:
  explicit Heartbeat(SegmentHeader* header) : header_(header) {}

  // Worker: records a beat at `now_ms` (default: MonotonicNowMs()).
  void Beat() { Beat(MonotonicNowMs()); }
  void Beat(uint64_t now_ms);

  // Beats since the last segment reset.
  uint64_t count() const;
  // When the last beat happened; 0 if never.
  uint64_t last_beat_ms() const;

  // True when the worker beat at least once and its last beat is at most `max_age_ms` old
  // at `now_ms`. A timestamp in the future (a confused or hostile worker) counts as fresh:
  // the heartbeat detects hangs, process death is detected through the pid.
  bool IsAlive(uint64_t max_age_ms) const { return IsAlive(max_age_ms, MonotonicNowMs()); }
  bool IsAlive(uint64_t max_age_ms, uint64_t now_ms) const;

 private:
  SegmentHeader* header_;
};

}  // namespace modelgrid::ipc
