// Triton's auto_complete_config for Python models. A Python model folder may leave out its
// config.pbtxt, or its inputs and outputs: TritonPythonModel.auto_complete_config then
// fills them in (add_input, add_output, set_max_batch_size, set_dynamic_batching). That is
// model code, so it runs in a sandboxed `modelgrid-worker auto-complete` child, as the
// estimator's dry runs do; the server only reads the JSON config the child prints.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "estimate/dry_run_process.h"
#include "formats/triton_config.h"

namespace modelgrid {

// Completes `partial` (the folder's config, or {backend: "python"} without one) with
// model_py's hook; returns it unchanged when the model defines none. Errors are the
// hook's (kInvalidArgument with its exception) or the sandbox's.
using ConfigCompleter =
    std::function<Result<TritonModelConfig>(const std::string& model_py, const TritonModelConfig&)>;

// Installs the process's completer (the CLI's main does, at start; not thread-safe).
void SetConfigCompleter(ConfigCompleter completer);

// Runs the installed completer; kUnsupported (saying why) when none is installed.
Result<TritonModelConfig> AutoCompleteConfig(const std::string& model_py,
                                             const TritonModelConfig& partial);

// A completer that runs each call in its own sandboxed child. Thread-safe.
ConfigCompleter SandboxedConfigCompleter(DryRunSandbox sandbox);

// Triton's JSON form of the fields a Python model's config can have: what the hook gets
// as auto_complete_model_config.as_dict().
std::string PartialConfigJson(const TritonModelConfig& config);

}  // namespace modelgrid
