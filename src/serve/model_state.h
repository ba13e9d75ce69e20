// A served model's lifecycle, as an explicit state machine (TF Serving's LoaderHarness
// writes its chain down the same way): the legal moves are listed once, in
// IsLegalTransition, and a state changes only through ModelStateMachine::Transition, which
// refuses an illegal move and leaves the state as it was.
//
//   from \ to    LOADING  READY  UNAVAILABLE  FAILED  UNLOADING
//   LOADING        =        yes    yes          yes     yes    (loaded, its worker died, failed)
//   READY          -        =      yes          yes     yes    (a worker exit; a reload failed)
//   UNAVAILABLE    -        yes    =            yes     yes    (the restarted worker reloaded it)
//   FAILED         -        yes    yes          =       yes    (a restart retries the load)
//   UNLOADING      -        -      -            -       =      (terminal: gone after its requests)
//
// "=": staying is always allowed (an idempotent Transition).
#pragma once

#include <atomic>

#include "common/status.h"

namespace modelgrid {

enum class ModelState { kLoading, kReady, kUnavailable, kUnloading, kFailed };

// Triton's repository index names: "LOADING", "READY", "UNAVAILABLE", "UNLOADING";
// kFailed is "FAILED".
const char* ModelStateName(ModelState state);

// Whether a model may move from `from` to `to` (the chain above).
bool IsLegalTransition(ModelState from, ModelState to);

// One model's state. Thread-safe and lock-free: a transition is a compare-and-swap, so a
// thread that reads a state and moves on from it cannot overwrite a move made meanwhile by
// another (a reply thread cannot set READY over an unload that began).
class ModelStateMachine {
 public:
  explicit ModelStateMachine(ModelState initial = ModelState::kLoading) : state_(initial) {}

  ModelState get() const { return state_.load(std::memory_order_acquire); }
  // Reads like a ModelState (`m.state == ModelState::kReady`); it is never assigned.
  operator ModelState() const { return get(); }  // NOLINT(google-explicit-constructor)

  // Moves to `to` from whatever the state is now, when that move is legal. kInternal
  // (naming both states) when it is not; the state is then unchanged.
  Status Transition(ModelState to);

  // Moves from `from` to `to` only when the state is `from` now (and the move is legal).
  // kInternal otherwise, the state unchanged.
  Status Transition(ModelState from, ModelState to);

 private:
  std::atomic<ModelState> state_;
};

}  // namespace modelgrid
