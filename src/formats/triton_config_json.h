// Triton's JSON form of a model configuration (what GET /v2/models/{m}/config answers, and
// what a load request's "config" parameter carries) read into a TritonModelConfig. The JSON
// is rewritten as protobuf text and read by ParseTritonConfig, so both forms obey one set
// of rules and limits.
#pragma once

#include <string_view>

#include "common/status.h"
#include "formats/triton_config.h"

namespace modelgrid {

// kInvalidArgument naming the field for malformed JSON, a value of the wrong kind, or a
// field ModelGrid does not serve with (a load must not silently drop part of its config).
// Fields Triton fills in with their defaults (version_policy latest 1, empty batch_input,
// an instance_group's name, ...) are accepted, so a config read from GET .../config can be
// sent back as it is.
Result<TritonModelConfig> ParseTritonConfigJson(std::string_view json_text);

}  // namespace modelgrid
