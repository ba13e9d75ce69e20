// The model configuration extension: a served model's config.pbtxt in Triton's JSON form
// (GET /v2/models/{m}/config), with the defaults Triton fills in, as its clients,
// perf_analyzer and Model Analyzer read it.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "serve/grid_types.h"

namespace modelgrid {

// `devices`: where its instances run (one entry per placement).
nlohmann::json TritonConfigJson(const Model& m, const std::vector<Device>& devices);

}  // namespace modelgrid
