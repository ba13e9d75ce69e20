// The memory of a Triton Python-backend model (backend "python", model.py), from its folder
// and without running it (the server runs no model code):
//   weights   the stored bytes of every weight file in the served version folder
//             (safetensors, PyTorch .pt/.pth/.bin, ONNX, GGUF, read from their headers;
//             files whose headers do not parse count their size);
//   transient kPythonTransientFraction of the weights, for what execute allocates;
//   runtime   on the host: the interpreter and numpy (once per worker, charged to each
//             model, so conservative), plus torch's import when model.py imports torch.
//             On a GPU host memory is not device memory: 0.
// The config's memory_bytes parameter overrides all of it, and a load's measured peak
// replaces it, as for other models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelgrid {

// Measured on this project's CPU machine, Debian's python3 3.11 and torch 1.13: the
// interpreter and numpy add 27 MiB of RSS to modelgrid-worker (31 MiB peak in a bare
// python3); importing torch adds 24 MiB more there, since the worker already maps LibTorch
// (195 MiB in a bare python3). Rounded up.
inline constexpr uint64_t kPythonRuntimeBytes = uint64_t{32} << 20;
inline constexpr uint64_t kPythonTorchImportBytes = uint64_t{48} << 20;
inline constexpr double kPythonTransientFraction = 0.25;

struct PythonModelEstimate {
  uint64_t weights_bytes = 0;
  uint64_t transient_bytes = 0;
  uint64_t runtime_bytes = 0;
  uint64_t total_bytes = 0;  // the three above
  bool imports_torch = false;
  std::vector<std::string> sources;  // how each term was found, one line each
};

// `model_dir`: REPO/<model>; `host`: estimating for the host CPU (no GPU).
Result<PythonModelEstimate> EstimatePythonModel(const std::string& model_dir, bool host);

}  // namespace modelgrid
