// The metrics models define themselves (Python models' pb_utils.MetricFamily), on /metrics
// beside the server's own. Workers run model code, so what they report is untrusted: it is
// parsed with bounds, and every name, type and value is checked before it is written.
#pragma once

#include <string>
#include <vector>

#include "server/prometheus.h"

namespace modelgrid {

// The most a worker's report may hold; larger ones are skipped.
inline constexpr size_t kMaxCustomMetricsBytes = size_t{1} << 20;

// Writes the families of `reports` (each a worker's Backend::CustomMetrics JSON) to `w`:
// families of one name merge when their type agrees (the first help wins); the same series
// (name and labels) from several workers is added up (a model's replicas). Skipped, and
// counted in the return value: malformed reports, families named nv_* or modelgrid_* (the
// server's), types other than counter and gauge, non-finite values, invalid names.
size_t WriteCustomMetrics(const std::vector<std::string>& reports, server::PrometheusWriter& w);

}  // namespace modelgrid
