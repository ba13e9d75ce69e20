#include "serve/in_flight.h"

namespace modelgrid {

InFlight::Ticket InFlight::Enter() {
  {
    MutexLock lock(&mu_);
    if (closed_) return nullptr;
    ++count_;
  }
  // Not an owner: the deleter releases the ticket and leaves the object alone.
  return Ticket(this, [](InFlight* self) { self->Release(); });
}

int InFlight::count() const {
  MutexLock lock(&mu_);
  return count_;
}

void InFlight::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
}

void InFlight::WaitUntilIdle() {
  MutexLock lock(&mu_);
  while (count_ > 0) idle_.Wait(&mu_);
}

bool InFlight::WaitUntilIdleFor(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (count_ > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    idle_.WaitFor(&mu_, until - now);
  }
  return true;
}

void InFlight::Release() {
  MutexLock lock(&mu_);
  // Notified under the lock: a waiter that wakes may destroy this object at once.
  if (--count_ == 0) idle_.NotifyAll();
}

}  // namespace modelgrid
