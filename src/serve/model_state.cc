#include "serve/model_state.h"

#include <string>

namespace modelgrid {
namespace {

Status Illegal(ModelState from, ModelState to) {
  return Internal(std::string("illegal model state transition ") + ModelStateName(from) + " -> " +
                  ModelStateName(to));
}

}  // namespace

const char* ModelStateName(ModelState s) {
  switch (s) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kFailed:
      return "FAILED";
  }
  return "UNAVAILABLE";
}

bool IsLegalTransition(ModelState from, ModelState to) {
  if (from == to) return true;
  switch (from) {
    case ModelState::kLoading:
      return true;  // to anything: ready, failed, its worker died, or unloaded meanwhile
    case ModelState::kReady:
      return to == ModelState::kUnavailable || to == ModelState::kUnloading ||
             to == ModelState::kFailed;
    case ModelState::kUnavailable:
      return to == ModelState::kReady || to == ModelState::kFailed ||
             to == ModelState::kUnloading;
    case ModelState::kFailed:
      return to == ModelState::kReady || to == ModelState::kUnavailable ||
             to == ModelState::kUnloading;
    case ModelState::kUnloading:
      return false;  // terminal
  }
  return false;
}

Status ModelStateMachine::Transition(ModelState to) {
  ModelState now = get();
  do {
    if (!IsLegalTransition(now, to)) return Illegal(now, to);
  } while (!state_.compare_exchange_weak(now, to, std::memory_order_acq_rel));
  return Status::Ok();
}

Status ModelStateMachine::Transition(ModelState from, ModelState to) {
  if (!IsLegalTransition(from, to)) return Illegal(from, to);
  ModelState expected = from;
  if (state_.compare_exchange_strong(expected, to, std::memory_order_acq_rel)) return Status::Ok();
  return Internal(std::string("model state is ") + ModelStateName(expected) + ", not " +
                  ModelStateName(from) + ": no move to " + ModelStateName(to));
}

}  // namespace modelgrid
