// The requests using something (a model, one of its placements), as tickets the requests
// hold: a ticket is released when the request that holds it is done with, whatever path
// it took, so there is no count to balance by hand. Close() turns new requests away, and
// WaitUntilIdle() returns when the last ticket goes: an unload or a move waits exactly for
// the requests that reached the model, without polling and without a timeout (a request
// always ends: its worker answers, or dies, or is killed by the watchdog).
#pragma once

#include <chrono>
#include <memory>

#include "common/mutex.h"

namespace modelgrid {

class InFlight {
 public:
  // Held by one request (copies share it); the last copy's destruction releases it.
  using Ticket = std::shared_ptr<InFlight>;

  InFlight() = default;
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  // Waits for the tickets still held: they point here.
  ~InFlight() { WaitUntilIdle(); }

  // A ticket, or null once Close() was called. Thread-safe.
  Ticket Enter() EXCLUDES(mu_);
  // Tickets held now (to choose the least busy placement). Thread-safe.
  int count() const EXCLUDES(mu_);
  // From now on Enter() gives no ticket. Idempotent, thread-safe.
  void Close() EXCLUDES(mu_);
  // Blocks until no ticket is held.
  void WaitUntilIdle() EXCLUDES(mu_);
  // The same for at most `timeout`; false when tickets are still held then.
  bool WaitUntilIdleFor(std::chrono::milliseconds timeout) EXCLUDES(mu_);

 private:
  void Release() EXCLUDES(mu_);

  mutable Mutex mu_;
  CondVar idle_;  // count_ dropped to 0
  int count_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace modelgrid
