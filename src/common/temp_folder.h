// Private temporary folders: $TMPDIR (else /tmp) / <prefix>-XXXXXX, mode 0700.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelgrid {

// Creates a new, empty folder and returns its path; kInternal naming the reason when it
// cannot. The caller removes it.
Result<std::string> MakeTempFolder(std::string_view prefix);

}  // namespace modelgrid
