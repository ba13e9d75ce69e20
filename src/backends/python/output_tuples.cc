#include "backends/python/output_tuples.h"

#include "backends/python/interpreter.h"

namespace modelgrid::python {

Result<HostTensor> OutputTensor(PyObject* item) {
  const char* name = nullptr;
  const char* datatype = nullptr;
  PyObject* shape = nullptr;
  PyObject* buffer = nullptr;
  if (!PyArg_ParseTuple(item, "ssOO", &name, &datatype, &shape, &buffer)) {
    return TakeError("reading an output");
  }
  HostTensor t;
  t.name = name;
  const std::string what = "output '" + t.name + "'";
  MG_ASSIGN_OR_RETURN(t.dtype, ParseTensorDType(datatype));
  PyRef dims(PySequence_Fast(shape, "shape"));
  if (!dims) return TakeError(what);
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(dims.get()); ++i) {
    const long long d = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(dims.get(), i));
    if (d < 0) {
      PyErr_Clear();
      return Internal(what + " has a negative or non-integer dimension");
    }
    t.shape.push_back(d);
  }
  Py_buffer view;
  if (PyObject_GetBuffer(buffer, &view, PyBUF_C_CONTIGUOUS) != 0) return TakeError(what);
  const auto* bytes = static_cast<const uint8_t*>(view.buf);
  t.data.assign(bytes, bytes + view.len);
  PyBuffer_Release(&view);
  const bool consistent =
      t.dtype == TensorDType::kBytes
          ? BytesElementCount(t.data.data(), t.data.size()) == ShapeElementCount(t.shape)
          : t.data.size() ==
                static_cast<size_t>(ShapeElementCount(t.shape)) * TensorDTypeSize(t.dtype);
  if (!consistent)
    return Internal(what + ": its bytes do not match shape " + ShapeToString(t.shape));
  return t;
}

Result<std::vector<HostTensor>> OutputTensors(PyObject* items, const std::string& what) {
  PyRef seq(PySequence_Fast(items, "outputs must be a sequence"));
  if (!seq) return TakeError(what);
  std::vector<HostTensor> outputs;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq.get()); ++i) {
    MG_ASSIGN_OR_RETURN(HostTensor t, OutputTensor(PySequence_Fast_GET_ITEM(seq.get(), i)));
    outputs.push_back(std::move(t));
  }
  return outputs;
}

}  // namespace modelgrid::python
