// The Python backend: Triton Python-backend models (REPO/<m>/<v>/model.py with class
// TritonPythonModel) run in the worker's embedded interpreter, beside TorchScript models,
// in one process and, on a GPU, one CUDA context.
//
// Load imports model.py under a module name of its own, calls initialize(args) with
// Triton's args (model_config as JSON, model_instance_kind/name/device_id, model_repository,
// model_version, model_name) and measures what it took: on the host the resident growth,
// plus the interpreter's start (every Python model is charged it), measured, not capped; on
// a GPU what torch's CUDA caching allocator gained (the same LibTorch as TorchScript
// models', in the same process). An
// exception in import or initialize is kInvalidArgument with its last traceback line.
// Infer checks the inputs against the config (every declared input,
// dtypes, shapes, the batch dimension), hands them to execute as numpy arrays on the
// caller's bytes (no copy; BYTES as object arrays of bytes), and returns the response's
// tensors. An exception in execute, or a response carrying a TritonError, fails that
// request alone (kInternal, or the TritonError's code). Destroying the instance calls
// finalize(). The GIL serialises the Python code of all models in one process.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace modelgrid {

// `bls` (borrowed; outlives the backend's models) serves the models' BLS calls
// (pb_utils.InferenceRequest.exec); null: they fail, saying so.
std::unique_ptr<Backend> CreatePythonBackend(const BlsRouter* bls);

// Imports `model_py` and returns `config_json` (Triton's JSON form) as its
// TritonPythonModel.auto_complete_config completes it, or unchanged without that hook.
// kInvalidArgument naming the exception when the import or the hook raises. For
// `modelgrid-worker auto-complete`, a sandboxed child: it leaves the model imported.
Result<std::string> AutoCompletePythonConfig(const std::string& model_py,
                                             const std::string& config_json);

}  // namespace modelgrid
