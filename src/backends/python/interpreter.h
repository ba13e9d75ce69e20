// The embedded CPython interpreter of a worker process: one per process, started by the
// first Python model's load, never finalised (model code may keep threads). The
// interpreter is the one the build found (Debian's /usr/bin/python3), so models import
// what that interpreter has installed (numpy, torch). Includes Python.h: backend-private.
#pragma once

#include <cstdint>
#include <string>

#include "backends/python/py_object.h"
#include "common/status.h"

namespace modelgrid::python {

// Starts the interpreter and registers triton_python_backend_utils and ModelGrid's runtime
// module, then releases the GIL. Thread-safe and idempotent: later calls return the first
// call's status. kUnavailable when the interpreter or numpy cannot start.
Status StartInterpreter();

// Resident bytes the start added to the process (the interpreter and numpy); 0 before it.
uint64_t InterpreterBytes();

// The modelgrid_python_runtime module (borrowed); valid after StartInterpreter succeeded.
PyObject* Runtime();

// Creates the built-in module `def` and adds it to sys.modules under its name, so that
// runtime code imports it (takes the GIL). Call once per module.
Status InstallModule(PyModuleDef* def);

// The pending Python exception as a Status prefixed with `context` (GIL held; clears it).
// The runtime's ModelError carries its own code (a StatusCodeName: "invalid argument",
// "not found", ...); MemoryError is kResourceExhausted; other
// exceptions are kInternal with the traceback's last line and where in model code it was.
Status TakeError(const std::string& context);

}  // namespace modelgrid::python
