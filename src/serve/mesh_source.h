// The model sources of KServe ModelMesh's loadModel and predictModelSize (a file or
// folder its puller placed in the pod) as model folders the serving core reads: each is
// "staged" as STAGE/<modelId>, made of symbolic links to the source, so that the model
// serves under its ModelMesh id whatever its folder or config calls it.
//
// Sources: a Triton model folder (config.pbtxt, <version>/model.pt or model.py); a folder
// holding the model file itself (served as version 1); or a bare model file (model.pt, any
// *.pt, or a Python backend's *.py), with a config.pbtxt beside it when one is there. A
// TorchScript model needs a config (its inputs and outputs); a Python model without one is
// completed by its auto_complete_config when loaded.
#pragma once

#include <string>

#include "common/status.h"
#include "serve/model_repository.h"
#include "server/model_runtime.h"

namespace modelgrid {

// Stages `source` as `stage`/<model_id> (replacing what was there) and returns the config
// override that reads it: the source's config with its name cleared (the model id names
// the model), `repository` = `stage`, and a text that changes when the source does.
// kInvalidArgument names what is wrong with the source (nothing was loaded).
Result<ConfigOverride> StageModelSource(const std::string& stage,
                                        const server::RuntimeModelSource& source);

// Removes `stage`/<model_id> (links only: the source's files stay). Idempotent.
void RemoveStagedModel(const std::string& stage, const std::string& model_id);

}  // namespace modelgrid
