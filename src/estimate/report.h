// Renders an Estimate as a human-readable table or as the JSON object of
// `modelgrid estimate --json`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "estimate/estimator.h"

namespace modelgrid {

// {"weights_bytes", "activation_bytes", "kv_cache_bytes", "workspace_bytes",
//  "context_bytes", "total_bytes", "parameters", "format", "assumptions", ...}: the byte
// fields are integers and total_bytes is the sum of the five terms.
nlohmann::json EstimateToJson(const Estimate& e);

// A table: one row per term with bytes, MiB and source, then the assumptions.
std::string EstimateToTable(const std::string& path, const Estimate& e);

// "1.23 GiB", "512.0 MiB", "4.0 KiB", "12 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace modelgrid
