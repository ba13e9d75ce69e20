// The layout of a Triton model directory: <model>/config.pbtxt and numeric version folders.
#pragma once

#include <cstdint>
#include <string>

namespace modelgrid {

// The highest numeric version folder of `model_dir` (Triton's default version policy),
// or -1 when it has none. Folder names longer than 18 digits are ignored.
int64_t LatestModelVersion(const std::string& model_dir);

// True when the folder's highest version holds a model.py: a Python-backend model, which
// may leave out config.pbtxt (its auto_complete_config declares it; serve/auto_complete.h).
bool IsPythonModelFolder(const std::string& model_dir);

}  // namespace modelgrid
