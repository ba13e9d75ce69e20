// Load levels for `modelgrid perf`: "8", "1:64" (doubling), "1:64:x2" (multiply),
// "1:16:4" (add 4).
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid::perf {

// Parses "V", "START:END" (x2 steps), "START:END:xF" (multiply by F > 1) or
// "START:END:STEP" (add STEP > 0) into the increasing list of levels from START up to
// END inclusive (END itself is always the last level). With `integers`, every value must
// be a whole number >= 1 (concurrency); otherwise any number > 0 (request rates). Fails
// with kInvalidArgument naming the problem; at most 1000 levels. Pure.
Result<std::vector<double>> ParseLevels(std::string_view text, bool integers);

}  // namespace modelgrid::perf
