// Per-level measurements of `modelgrid perf`: what each sender records, and the summary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgrid::perf {

// What one sender thread records for one model during a level. Not thread-safe: each
// sender owns its own and they are merged after the level.
struct ModelSamples {
  std::vector<uint32_t> latencies_us;  // one per successful request in the window
  int64_t errors = 0;
  std::vector<std::string> error_messages;  // distinct, at most kMaxErrorMessages

  static constexpr size_t kMaxErrorMessages = 5;
  void AddError(const std::string& message);
  void Merge(ModelSamples&& other);
};

struct LatencySummary {
  double avg_us = 0, p50_us = 0, p90_us = 0, p95_us = 0, p99_us = 0, max_us = 0;
};

struct Summary {
  int64_t successes = 0;
  int64_t errors = 0;
  int64_t inferences = 0;       // successes x inferences per request (the batch)
  double requests_per_s = 0;    // successful requests per second
  double inferences_per_s = 0;  // inferences per second
  LatencySummary latency;       // of successful requests
  std::vector<std::string> error_messages;
};

// Summarises `samples` measured over `window_s` seconds. Sorts the latencies in place.
Summary Summarize(ModelSamples& samples, int64_t inferences_per_request, double window_s);

}  // namespace modelgrid::perf
