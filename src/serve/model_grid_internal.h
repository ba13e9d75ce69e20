// Internal to the ModelGrid implementation files: the timeouts of model control and a
// polling wait. Not part of any interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

namespace modelgrid::grid_internal {

// A load (worker start, model load and warm-up) gives up after this.
constexpr auto kLoadTimeout = std::chrono::minutes(10);
// How often the watchdog looks at the heartbeats: a hung worker is killed at most this
// long after --heartbeat-timeout-ms of silence (the smallest allowed timeout is 200 ms).
constexpr auto kWatchdogTick = std::chrono::milliseconds(100);
// A new worker connects within this long: starting LibTorch takes a few seconds on a
// loaded 2-core machine, a CUDA context about one more; a minute means it will not.
constexpr auto kWorkerStartTimeout = std::chrono::seconds(60);
// A worker confirms an unload within this long: freeing a model takes milliseconds, a
// slot still running requests finishes them first (at most one long forward pass).
constexpr auto kUnloadConfirmTimeout = std::chrono::seconds(60);
// Grace before SIGKILL for a worker stopped with work done (SIGUSR1 ends it at once; the
// grace only matters when it is stuck): a worker just started and not needed, one left
// empty by an unload, and every worker when the grid is destroyed.
constexpr uint32_t kStopUnneededWorkerGraceMs = 2000;
constexpr uint32_t kStopEmptyWorkerGraceMs = 5000;
// The poller's tick: how late a poll may start after --repository-poll-secs (>= 1 s).
constexpr auto kPollTick = std::chrono::milliseconds(50);

// Waits until `done()` holds, polling every millisecond; false after `timeout`.
template <typename Pred>
bool WaitFor(Pred done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A byte count for JSON answers: null when unknown.
inline nlohmann::json JsonBytes(std::optional<uint64_t> b) {
  return b ? nlohmann::json(*b) : nlohmann::json(nullptr);
}

}  // namespace modelgrid::grid_internal
