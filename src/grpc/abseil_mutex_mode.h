// Debian's abseil is built without NDEBUG, so absl::Mutex, which gRPC uses for every lock,
// checks each acquisition against a process-wide lock-order graph (GraphCycles, behind one
// global spinlock) and aborts the process on a cycle it calls a potential deadlock. A
// serving process wants neither the cost on every gRPC call nor the abort.
#pragma once

#include <absl/synchronization/mutex.h>

namespace modelgrid::rpc {

// Turns abseil's lock-order checking off for the whole process. Call once at start, before
// any gRPC object exists: the modelgrid executable and the benchmarks' gRPC clients do. The
// tests leave it on, so that their gRPC servers and clients are checked.
inline void TurnOffAbseilDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace modelgrid::rpc
