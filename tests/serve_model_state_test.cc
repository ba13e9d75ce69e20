// The model state machine (serve/model_state.h): every legal and illegal transition, and
// that a refused move leaves the state as it was, also when threads race.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "serve/model_state.h"

namespace modelgrid {
namespace {

constexpr ModelState kAll[] = {ModelState::kLoading, ModelState::kReady, ModelState::kUnavailable,
                               ModelState::kFailed, ModelState::kUnloading};

TEST(ModelStateTest, EveryTransitionIsLegalOrRefused) {
  // legal[from][to], in kAll's order: LOADING, READY, UNAVAILABLE, FAILED, UNLOADING.
  constexpr bool legal[5][5] = {
      {true, true, true, true, true},      // LOADING
      {false, true, true, true, true},     // READY
      {false, true, true, true, true},     // UNAVAILABLE
      {false, true, true, true, true},     // FAILED
      {false, false, false, false, true},  // UNLOADING
  };
  for (int f = 0; f < 5; ++f) {
    for (int t = 0; t < 5; ++t) {
      const ModelState from = kAll[f], to = kAll[t];
      const std::string label = std::string(ModelStateName(from)) + " -> " + ModelStateName(to);
      EXPECT_EQ(IsLegalTransition(from, to), legal[f][t]) << label;
      ModelStateMachine m(from);
      const Status st = m.Transition(to);
      EXPECT_EQ(st.ok(), legal[f][t]) << label;
      EXPECT_EQ(m.get(), legal[f][t] ? to : from) << label << ": a refused move changes nothing";
      if (!st.ok()) {
        EXPECT_NE(st.message().find(label), std::string::npos) << st.message();
      }
      ModelStateMachine exact(from);
      EXPECT_EQ(exact.Transition(from, to).ok(), legal[f][t]) << label;
    }
  }
}

TEST(ModelStateTest, AConditionalMoveNeedsTheStateItNames) {
  ModelStateMachine m(ModelState::kUnavailable);
  const Status st = m.Transition(ModelState::kLoading, ModelState::kReady);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(m.get(), ModelState::kUnavailable);
  EXPECT_TRUE(m.Transition(ModelState::kUnavailable, ModelState::kReady).ok());
  EXPECT_EQ(m.get(), ModelState::kReady);
}

TEST(ModelStateTest, ReadyNeverOverwritesAnUnloadThatBegan) {
  // A worker's load reply (-> READY) racing an unload (-> UNLOADING): whichever comes
  // first, the model ends UNLOADING, never READY again after it.
  for (int round = 0; round < 2000; ++round) {
    ModelStateMachine m(ModelState::kLoading);
    std::thread reply([&] { (void)m.Transition(ModelState::kReady); });
    std::thread unload([&] { EXPECT_TRUE(m.Transition(ModelState::kUnloading).ok()); });
    reply.join();
    unload.join();
    ASSERT_EQ(m.get(), ModelState::kUnloading) << "round " << round;
  }
}

}  // namespace
}  // namespace modelgrid
