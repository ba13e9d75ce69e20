// Reads a Triton-style model repository for serving: REPO/<model>/config.pbtxt and
// REPO/<model>/<version>/model.pt (TorchScript; platform "pytorch_libtorch" or backend
// "pytorch") or REPO/<model>/<version>/model.py (backend "python", Triton's Python
// backend). The highest numeric version is served (Triton's default version policy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "formats/triton_config.h"

namespace modelgrid {

struct ServedModel {
  std::string name;        // the folder name (config "name" must match when given)
  int64_t version = 0;     // the served version folder
  std::string model_path;  // <repo>/<name>/<version>/model.pt (or model.py)
  TritonModelConfig config;
  std::vector<std::string> warnings;  // fields ModelGrid ignores, and similar
  bool auto_completed = false;        // the config came from auto_complete_config
};

// The model file of a version folder for this config: "model.py" for backend "python",
// else "model.pt".
const char* ModelFileName(const TritonModelConfig& config);

// True for names that are safe as a path component and in URLs: 1..128 characters of
// [A-Za-z0-9_.-], not "." or "..".
bool IsValidModelName(const std::string& name);

// The names of REPO's model folders (those with a config.pbtxt, and Python models without
// one), sorted; folders whose name is not a valid model name are skipped.
Result<std::vector<std::string>> ListRepositoryModels(const std::string& repo);

// A cheap fingerprint of what serving `served` from `repo` reads (its version, and the size
// and modification time of config.pbtxt and its model file): it changes when they change.
std::string RepositorySignature(const std::string& repo, const ServedModel& served);

// A load request's config (Triton's "config" load parameter), used instead of the folder's
// config.pbtxt; `text` is what the client sent (it tells one override from another).
struct ConfigOverride {
  TritonModelConfig config;
  std::string text;
  // Files sent with the request (a LoadFiles, serve/load_files.h): the model is read from
  // `repository` instead of the grid's, and keeps `files` alive while it is served.
  std::string repository = "";
  std::shared_ptr<const void> files = nullptr;
};

// Reads one model folder (for loads at run time), with `override`'s config when given. A
// Python model whose config declares no inputs and outputs (or that has no config.pbtxt)
// gets its config from auto_complete_config (a sandboxed child process) unless
// `auto_complete` is false: callers that only want the version and files (the poller's
// change test) skip that cost.
Result<ServedModel> ReadServedModel(const std::string& repo, const std::string& name,
                                    const ConfigOverride* override = nullptr,
                                    bool auto_complete = true);

}  // namespace modelgrid
