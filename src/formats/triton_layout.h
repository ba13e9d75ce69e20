// The layout of a Triton model directory: <model>/config.pbtxt and numeric version folders.
#pragma once

#include <cstdint>
#include <string>

namespace modelgrid {

// The highest numeric version folder of `model_dir` (Triton's default version policy),
// or -1 when it has none. Folder names longer than 18 digits are ignored.
int64_t LatestModelVersion(const std::string& model_dir);

}  // namespace modelgrid
