#include "perf/perf_report.h"

#include <cstdio>

namespace modelgrid::perf {

using nlohmann::json;

namespace {

json SummaryJson(const Summary& s) {
  return {{"successes", s.successes},
          {"errors", s.errors},
          {"inferences", s.inferences},
          {"requests_per_s", s.requests_per_s},
          {"throughput_infer_per_s", s.inferences_per_s},
          {"latency_us",
           {{"avg", s.latency.avg_us},
            {"p50", s.latency.p50_us},
            {"p90", s.latency.p90_us},
            {"p95", s.latency.p95_us},
            {"p99", s.latency.p99_us},
            {"max", s.latency.max_us}}},
          {"error_messages", s.error_messages}};
}

std::string Row(const std::string& label, const Summary& s) {
  char line[256];
  std::snprintf(line, sizeof line, "%-22s %12.1f %10.1f %10.0f %10.0f %10.0f %10.0f %10.0f %8lld\n",
                label.c_str(), s.inferences_per_s, s.requests_per_s, s.latency.avg_us,
                s.latency.p50_us, s.latency.p90_us, s.latency.p95_us, s.latency.p99_us,
                static_cast<long long>(s.errors));
  return line;
}

std::string LevelLabel(const LevelResult& level) {
  char label[64];
  if (level.open_loop) {
    std::snprintf(label, sizeof label, "rate %g/s", level.request_rate);
  } else {
    std::snprintf(label, sizeof label, "concurrency %lld",
                  static_cast<long long>(level.concurrency));
  }
  return label;
}

}  // namespace

std::string PerfTable(const PerfResult& result) {
  char header[256];
  std::snprintf(header, sizeof header, "%-22s %12s %10s %10s %10s %10s %10s %10s %8s\n", "level",
                "infer/s", "req/s", "avg us", "p50 us", "p90 us", "p95 us", "p99 us", "errors");
  std::string out = header;
  if (result.models.size() > 1 && !result.distribution.empty()) {
    out = "requests over " + std::to_string(result.models.size()) +
          " models: " + result.distribution + "\n" + out;
  }
  std::string notes;
  for (const LevelResult& level : result.levels) {
    out += Row(LevelLabel(level), level.overall);
    if (level.models.size() > 1) {
      for (const ModelLevelResult& m : level.models) out += Row("  " + m.model, m.summary);
    }
    for (const std::string& message : level.overall.error_messages) {
      notes += LevelLabel(level) + ": error: " + message + "\n";
    }
    if (level.fell_behind) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "%s: the generator could not keep up: %lld requests started late (up to "
                    "%.0f ms)\n",
                    LevelLabel(level).c_str(), static_cast<long long>(level.late_requests),
                    level.max_lag_ms);
      notes += line;
    }
  }
  return out + notes;
}

json PerfJson(const PerfResult& result) {
  json levels = json::array();
  for (const LevelResult& level : result.levels) {
    json l = SummaryJson(level.overall);
    if (level.open_loop) {
      l["request_rate"] = level.request_rate;
      l["late_requests"] = level.late_requests;
      l["max_lag_ms"] = level.max_lag_ms;
      l["fell_behind"] = level.fell_behind;
    } else {
      l["concurrency"] = level.concurrency;
    }
    l["senders"] = level.senders;
    l["window_s"] = level.window_s;
    l["models"] = json::array();
    for (const ModelLevelResult& m : level.models) {
      json per = SummaryJson(m.summary);
      per["name"] = m.model;
      l["models"].push_back(std::move(per));
    }
    levels.push_back(std::move(l));
  }
  return {{"models", result.models},
          {"distribution", result.distribution},
          {"levels", std::move(levels)},
          {"total_successes", result.total_successes},
          {"total_errors", result.total_errors}};
}

}  // namespace modelgrid::perf
