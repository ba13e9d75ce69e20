// The load generator of `modelgrid perf` (in the spirit of Triton's perf_analyzer).
//
// Closed loop (concurrency levels): N senders, each with its own connection (protocol.h),
// each sending its next request when the previous one is answered. Open loop (request
// rates): requests are due on a fixed schedule whatever the replies; a pool of senders
// picks them up, and requests that start late are counted (the generator fell behind).
// Requests go round-robin over the models, or follow a Zipf distribution over them
// (perf/model_picker.h); bodies are encoded once before the load.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "client/url.h"
#include "common/status.h"
#include "perf/level_stats.h"
#include "perf/model_inputs.h"
#include "perf/model_picker.h"
#include "perf/protocol.h"

namespace modelgrid::perf {

struct PerfOptions {
  client::Url url;                    // the server
  std::vector<std::string> models;    // models to load; empty with all_models
  bool all_models = false;            // load every ready model (see ListReadyModels)
  ModelDistribution distribution;     // how requests spread over the models
  std::vector<int64_t> concurrency;   // closed-loop levels (used when request_rates is empty)
  std::vector<double> request_rates;  // open-loop levels, requests per second
  double duration_s = 5;              // measured seconds per level
  double warmup_s = 1;                // unmeasured seconds before each level's window
  int64_t batch = 1;                  // the size of a leading -1 (batch) dimension
  ShapeOverrides shapes;              // --shape NAME:d1,d2
  bool binary = false;                // binary tensor extension instead of JSON data
  std::string input_data = "random";  // "random", "zero", or a file path
  std::string api_key;                // sent as "Authorization: Bearer KEY" when not empty
  std::chrono::milliseconds timeout{30'000};  // per request
  // Called about twice a second during a level with a one-line status (no newline), from
  // the calling thread. Optional.
  std::function<void(const std::string&)> progress;
};

struct ModelLevelResult {
  std::string model;
  Summary summary;
};

struct LevelResult {
  bool open_loop = false;
  int64_t concurrency = 0;  // closed loop
  double request_rate = 0;  // open loop, requests per second
  int senders = 0;          // sender threads used
  double window_s = 0;      // measured seconds
  Summary overall;
  std::vector<ModelLevelResult> models;
  int64_t late_requests = 0;  // open loop: started more than 10 ms after they were due
  double max_lag_ms = 0;      // open loop: the largest such delay
  bool fell_behind = false;   // open loop: more than 1% of the requests started late
};

struct PerfResult {
  std::vector<std::string> models;
  std::string distribution;  // ModelDistribution::Name()
  std::vector<LevelResult> levels;
  int64_t total_successes = 0;
  int64_t total_errors = 0;
};

// Prepares the requests (metadata, inputs) and runs every level in turn. Blocks for about
// (warmup + duration) x levels. Fails before any load when the server is unreachable, the
// API key is refused, a model is unknown or its inputs cannot be generated. Requests that
// fail during the load are counted in the result, not returned as errors.
Result<PerfResult> RunPerf(const PerfOptions& options);
// The same over `protocol` (for example gRPC's) instead of HTTP.
Result<PerfResult> RunPerf(const PerfOptions& options, PerfProtocol& protocol);

}  // namespace modelgrid::perf
