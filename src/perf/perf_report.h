// How `modelgrid perf` prints its results: a table or a JSON document.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "perf/load_generator.h"

namespace modelgrid::perf {

// A table: one row per level (and per model below it when there are several), then the
// distinct error messages and open-loop warnings. Pure.
std::string PerfTable(const PerfResult& result);

// {"models": [...], "levels": [{"concurrency"|"request_rate", "throughput_infer_per_s",
// "requests_per_s", "successes", "errors", "inferences", "latency_us": {"avg", "p50",
// "p90", "p95", "p99", "max"}, "error_messages": [...], "models": [{"name", ...same}]}],
// "total_successes", "total_errors"}. Pure.
nlohmann::json PerfJson(const PerfResult& result);

}  // namespace modelgrid::perf
