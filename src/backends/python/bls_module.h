// The embedded module `_modelgrid_bls`: pb_utils.InferenceRequest.exec's way out of the
// interpreter. Its one function, call(model, version, inputs), runs a BLS call through the
// worker's BlsRouter with the GIL released, and returns the outputs.
#pragma once

#include "backends/backend.h"
#include "common/status.h"

namespace modelgrid::python {

// Adds `_modelgrid_bls` to sys.modules (once; takes the GIL), calling `bls` from now on
// (borrowed; null: every call fails, saying BLS is not served here). A worker has one
// backend and so one router; tests may install others in turn.
Status InstallBlsModule(const BlsRouter* bls);

}  // namespace modelgrid::python
