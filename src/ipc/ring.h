// Single-producer/single-consumer rings of fixed-size Messages in shared memory.
//
// Lock-free: the producer alone writes tail, the consumer alone writes head, so a peer that
// dies mid-operation leaves at worst one message unpublished, never a held lock. Blocking
// waits sleep on a futex word in the segment (FUTEX_WAIT without the private flag, so it
// works across processes) and always take a timeout, so a dead peer cannot hang the caller.
//
// A Ring is a view: it holds pointers into a mapping owned by ShmSegment and must not
// outlive it. One Ring object per role per process; TryPush/Push from the one producer
// thread, TryPop/Pop from the one consumer thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "ipc/doorbell.h"
#include "ipc/shm_layout.h"

namespace modelgrid::ipc {

class Ring {
 public:
  // `capacity` must be a power of two (ShmSegment checks it on attach).
  Ring(RingHeader* header, Message* slots, uint32_t capacity)
      : header_(header), slots_(slots), capacity_(capacity) {}

  // Producer: copies `msg` into the ring. False when the ring is full or its indices are
  // corrupt (see corrupt()). Wakes a sleeping consumer: on the futex, and through
  // msg.reply_doorbell's doorbell when doorbells are set.
  bool TryPush(const Message& msg);
  // Consumer: copies the oldest message into `*out` (so later writes by the peer cannot
  // change what the caller validated). False when empty or corrupt.
  bool TryPop(Message* out);

  // Blocking forms: spin `spin_iterations` times, then sleep on the futex until the ring has
  // room/data or `timeout_ms` passes. kUnavailable on timeout, kCorruptData when the
  // indices are inconsistent (head ahead of tail, or more than capacity in flight).
  Status Push(const Message& msg, uint32_t timeout_ms, uint32_t spin_iterations = 128);
  Status Pop(Message* out, uint32_t timeout_ms, uint32_t spin_iterations = 128);

  // Producer: also ring one of `doorbells` (borrowed; they must outlive the ring), the one
  // the message names, whenever a push finds the consumer asleep: for a consumer that
  // sleeps in event loops.
  void set_doorbells(const std::vector<Doorbell>* doorbells) { doorbells_ = doorbells; }

  // Consumer, event-loop form (instead of Pop): Wake() before draining with TryPop, so that
  // pushes during the drain ring nothing; Sleep() after it. Sleep returns false when a
  // message arrived in between (the consumer is awake again: drain once more); true means
  // the next push rings the doorbell. The same Dekker pattern as the futex wait.
  void Wake();
  bool Sleep();

  // Messages in the ring now (a snapshot; 0 when corrupt).
  uint64_t size() const;
  uint32_t capacity() const { return capacity_; }
  RingHeader* header() const { return header_; }
  // True when the shared indices contradict each other: tail - head > capacity.
  bool corrupt() const;

 private:
  RingHeader* header_;
  Message* slots_;
  uint32_t capacity_;
  const std::vector<Doorbell>* doorbells_ = nullptr;
};

// Server -> worker. The server is the producer.
class RequestRing : public Ring {
 public:
  using Ring::Ring;
};

// Worker -> server. The worker is the producer.
class ResponseRing : public Ring {
 public:
  using Ring::Ring;
};

// Sleeps while `*word == expected`, at most `timeout_ms`. Returns false on timeout. Spurious
// returns are allowed; callers re-check their condition. Works across processes.
bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected, uint32_t timeout_ms);
// Wakes every waiter on `word`.
void FutexWakeAll(std::atomic<uint32_t>* word);

}  // namespace modelgrid::ipc
