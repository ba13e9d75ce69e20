// The embedded module `_modelgrid_responses`: a decoupled model's response sender's way out
// of the interpreter (pb_utils.InferenceResponseSender). A request's sender holds a capsule
// of its ResponseSink (SinkCapsule); send(capsule, outputs, error_code, error_message,
// final) passes one response on, cancelled(capsule) asks whether the server gave up. A
// capsule dropped before its final response ends the request with an error, so a model
// that forgets the final flag cannot leave its client waiting. Backend-private.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "backends/python/py_object.h"
#include "common/status.h"

namespace modelgrid::python {

// Adds `_modelgrid_responses` to sys.modules (once; takes the GIL).
Status InstallResponseModule();

// A new capsule holding `sink` (GIL held); null with a Python error set.
PyObject* SinkCapsule(std::shared_ptr<ResponseSink> sink);

}  // namespace modelgrid::python
