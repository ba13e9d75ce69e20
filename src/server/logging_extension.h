// Triton's logging extension (GET/POST /v2/logging) on ModelGrid's logger: Triton's
// settings are flags per severity and a verbose level, ModelGrid's one least-severe level,
// so a setting maps when its flags are a threshold (error; warning and error; info,
// warning and error; verbose on top of all three). Switching a severity off also switches
// off the less severe ones a request does not mention (and on, the more severe ones); the
// answer shows the settings in force. Explicit settings that are not a threshold, a change
// of the log file or format (fixed at start) and unknown settings are a 400 naming them.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modelgrid::server {

// {"log_file", "log_info", "log_warning", "log_error", "log_verbose_level", "log_format"}.
nlohmann::json LogSettingsJson();
// Applies `request` (a subset of those keys) and returns the settings now in force.
Result<nlohmann::json> UpdateLogSettings(const nlohmann::json& request);

}  // namespace modelgrid::server
