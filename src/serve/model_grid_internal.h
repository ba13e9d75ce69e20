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
