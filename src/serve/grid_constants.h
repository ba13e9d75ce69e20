// The serving core's timeouts, ticks and grace periods, each with where its value comes
// from. Internal to src/serve.
#pragma once

#include <chrono>
#include <cstdint>

namespace modelgrid::grid_constants {

// A load (worker start, model load and warm-up) gives up after this.
constexpr auto kLoadTimeout = std::chrono::minutes(10);
// How often the watchdog looks at the heartbeats: a hung worker is killed at most this
// long after --heartbeat-timeout-ms of silence (the smallest allowed timeout is 200 ms).
constexpr auto kWatchdogTick = std::chrono::milliseconds(100);
// A new worker connects within this long: starting LibTorch takes a few seconds on a
// loaded 2-core machine, a CUDA context about one more; a minute means it will not. The
// watchdog gives a worker as long to send its first heartbeat.
constexpr auto kWorkerStartTimeout = std::chrono::seconds(60);
// A worker confirms an unload within this long: freeing a model takes milliseconds, a
// slot still running requests finishes them first (at most one long forward pass).
constexpr auto kUnloadConfirmTimeout = std::chrono::seconds(60);

// An unload of a decoupled model waits this long for its open requests to end, then ends
// them itself (the model may keep a response sender open forever).
constexpr auto kStreamUnloadGrace = std::chrono::seconds(10);
// Grace before SIGKILL for a worker stopped with work done (SIGUSR1 ends it at once; the
// grace only matters when it is stuck): a worker just started and not needed, one left
// empty by an unload, and every worker when the grid is destroyed.
constexpr uint32_t kStopUnneededWorkerGraceMs = 2000;
constexpr uint32_t kStopEmptyWorkerGraceMs = 5000;
// The poller's tick: how late a poll may start after --repository-poll-secs (>= 1 s).
constexpr auto kPollTick = std::chrono::milliseconds(50);

// How often the host-memory tier's swap thread retries a swap-in that had no room (every
// resident model busy), besides when a request begins to wait.
constexpr auto kSwapRetryTick = std::chrono::milliseconds(20);
// The longest a park or a swap-in's copy may take before it counts as failed.
constexpr auto kSwapTimeout = std::chrono::minutes(2);

// How often the Observer measures devices and workers (NVML, /proc) for /metrics and
// /v2/modelgrid/status, off the HTTP threads: a reading is at most this old (Prometheus
// scrapes every 15 s by default), and a /proc walk of tens of workers costs milliseconds.
constexpr auto kObserveInterval = std::chrono::seconds(1);

}  // namespace modelgrid::grid_constants
