// Renders plans: a table for people, the JSON of `modelgrid plan --json`, and an SVG with
// one bar per GPU stacked by context and model.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan/plan_types.h"

namespace modelgrid {

// {"strategy", "gpus": [{"index", "name", "capacity_bytes", "planned_bytes", "reserve_bytes",
// "load", "workers": [{"isolation", "context_bytes", "models": [names], "model_bytes",
// "transient_bytes" (same order), "transient_peak_bytes"}]}], "unplaced": [{"name",
// "reason"}], "host_cache_bytes", "host_cache_used_bytes", "parked": [{"name", "gpu",
// "parked_bytes", "footprint_bytes", "swap_in_seconds", "link"}], "lower_bound_gpus",
// "proven_optimal", "placed_instances", "gpus_used", "contexts", "elapsed_seconds"}.
nlohmann::json PlanToJson(const Plan& plan);

// A summary line, then one row per GPU hosting workers with its workers and models, then
// the unplaced instances with reasons.
std::string PlanToTable(const Plan& plan);

// Instances placed per GPU used, relative to `conventional` (1.0 when equal; 0 when the
// conventional plan places nothing).
double DensityRatio(const Plan& plan, const Plan& conventional);

// `--strategy all`: one row per plan (placed, GPUs, contexts, context bytes, models per
// GPU, density against the plan named "conventional", proven optimal).
std::string ComparisonTable(const std::vector<Plan>& plans);
nlohmann::json ComparisonToJson(const std::vector<Plan>& plans);

// A standalone SVG: for each plan a titled group of horizontal bars, one per GPU (the
// first 64), length proportional to capacity, stacked per worker: context, each model's
// resident bytes, the worker's transient peak; then the reserve, then free space; labelled with
// names and bytes, with hover titles.
std::string PlansToSvg(const std::vector<Plan>& plans);

}  // namespace modelgrid
