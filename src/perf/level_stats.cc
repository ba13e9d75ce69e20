#include "perf/level_stats.h"

#include <algorithm>
#include <cmath>

namespace modelgrid::perf {

void ModelSamples::AddError(const std::string& message) {
  ++errors;
  if (error_messages.size() >= kMaxErrorMessages) return;
  if (std::find(error_messages.begin(), error_messages.end(), message) == error_messages.end()) {
    error_messages.push_back(message);
  }
}

void ModelSamples::Merge(ModelSamples&& other) {
  latencies_us.insert(latencies_us.end(), other.latencies_us.begin(), other.latencies_us.end());
  errors += other.errors;
  for (std::string& m : other.error_messages) {
    if (error_messages.size() >= kMaxErrorMessages) break;
    if (std::find(error_messages.begin(), error_messages.end(), m) == error_messages.end()) {
      error_messages.push_back(std::move(m));
    }
  }
}

Summary Summarize(ModelSamples& samples, int64_t inferences_per_request, double window_s) {
  Summary s;
  std::vector<uint32_t>& lat = samples.latencies_us;
  s.successes = static_cast<int64_t>(lat.size());
  s.errors = samples.errors;
  s.inferences = s.successes * inferences_per_request;
  s.error_messages = samples.error_messages;
  if (window_s > 0) {
    s.requests_per_s = static_cast<double>(s.successes) / window_s;
    s.inferences_per_s = static_cast<double>(s.inferences) / window_s;
  }
  if (lat.empty()) return s;
  std::sort(lat.begin(), lat.end());
  double total = 0;
  for (uint32_t v : lat) total += v;
  s.latency.avg_us = total / static_cast<double>(lat.size());
  // Nearest-rank percentile.
  auto at = [&](double p) {
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(lat.size())));
    return static_cast<double>(lat[std::clamp<size_t>(rank, 1, lat.size()) - 1]);
  };
  s.latency.p50_us = at(50);
  s.latency.p90_us = at(90);
  s.latency.p95_us = at(95);
  s.latency.p99_us = at(99);
  s.latency.max_us = lat.back();
  return s;
}

}  // namespace modelgrid::perf
