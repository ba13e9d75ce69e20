// Output tensors as the runtime hands them over: (name, datatype, shape, buffer) tuples,
// read into HostTensors. Backend-private (includes Python.h).
#pragma once

#include "backends/backend.h"
#include "backends/python/py_object.h"
#include "common/status.h"

namespace modelgrid::python {

// One (name, datatype, shape, buffer) tuple as a tensor, its bytes copied and checked
// against dtype x shape (GIL held); kInternal naming the output otherwise.
Result<HostTensor> OutputTensor(PyObject* item);

// A sequence of such tuples (GIL held).
Result<std::vector<HostTensor>> OutputTensors(PyObject* items, const std::string& what);

}  // namespace modelgrid::python
