// InFlight (serve/in_flight.h): requests hold tickets; an unload closes and waits for the
// last one, which alone ends the wait.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "serve/in_flight.h"

namespace modelgrid {
namespace {

TEST(InFlightTest, TicketsCountAndCloseTurnsNewOnesAway) {
  InFlight f;
  InFlight::Ticket a = f.Enter();
  ASSERT_NE(a, nullptr);
  InFlight::Ticket copy = a;  // a request's callbacks share its ticket
  InFlight::Ticket b = f.Enter();
  EXPECT_EQ(f.count(), 2);
  a.reset();
  EXPECT_EQ(f.count(), 2) << "a copy still holds the first ticket";
  copy.reset();
  EXPECT_EQ(f.count(), 1);
  f.Close();
  EXPECT_EQ(f.Enter(), nullptr);
  b.reset();
  EXPECT_EQ(f.count(), 0);
  f.WaitUntilIdle();  // returns at once: nothing held
}

TEST(InFlightTest, AnUnloadWaitsForTheLastReleaseAndNothingElse) {
  InFlight f;
  std::vector<InFlight::Ticket> requests;
  for (int i = 0; i < 3; ++i) requests.push_back(f.Enter());
  std::atomic<bool> unloaded{false};
  std::thread unload([&] {
    f.Close();
    f.WaitUntilIdle();
    unloaded = true;
  });
  requests[0].reset();
  requests[1].reset();
  // Still one request: the unload must not have finished (if it had, nothing would make it
  // wait below, so a broken wait shows here, not as a flaky timing).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(unloaded.load());
  requests[2].reset();  // the last release completes the unload
  unload.join();
  EXPECT_TRUE(unloaded.load());
}

TEST(InFlightTest, ReleasesFromManyThreads) {
  InFlight f;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        InFlight::Ticket ticket = f.Enter();
        ASSERT_NE(ticket, nullptr);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(f.count(), 0);
}

}  // namespace
}  // namespace modelgrid
