#include "backends/python/bls_module.h"

#include <atomic>
#include <mutex>

#include "backends/python/interpreter.h"

namespace modelgrid::python {

namespace {

std::atomic<const BlsRouter*> g_bls{nullptr};  // the latest InstallBlsModule's

// A Py_buffer released when it goes.
struct Buffer {
  Py_buffer view{};
  bool held = false;
  ~Buffer() {
    if (held) PyBuffer_Release(&view);
  }
};

// Reads one (name, datatype, shape, buffer) input tuple into `*out`, borrowing the bytes
// through `*buffer`. False with a Python exception set.
bool ReadInput(PyObject* item, HostTensorView* out, Buffer* buffer) {
  const char* name = nullptr;
  const char* datatype = nullptr;
  PyObject* shape = nullptr;
  PyObject* data = nullptr;
  if (!PyArg_ParseTuple(item, "ssOO", &name, &datatype, &shape, &data)) return false;
  auto dtype = ParseTensorDType(datatype);
  if (!dtype.ok()) {
    PyErr_SetString(PyExc_ValueError, dtype.status().message().c_str());
    return false;
  }
  PyRef dims(PySequence_Fast(shape, "a BLS input's shape must be a sequence"));
  if (!dims) return false;
  out->name = name;
  out->dtype = *dtype;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(dims.get()); ++i) {
    const long long d = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(dims.get(), i));
    if (d == -1 && PyErr_Occurred()) return false;
    out->shape.push_back(d);
  }
  if (PyObject_GetBuffer(data, &buffer->view, PyBUF_CONTIG_RO) != 0) return false;
  buffer->held = true;
  out->data = static_cast<const uint8_t*>(buffer->view.buf);
  out->byte_size = static_cast<size_t>(buffer->view.len);
  return true;
}

// One output as a (name, datatype, shape, bytes) tuple; null with an exception set.
PyObject* OutputTuple(const HostTensor& t) {
  PyRef shape(PyTuple_New(static_cast<Py_ssize_t>(t.shape.size())));
  if (!shape) return nullptr;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    PyObject* d = PyLong_FromLongLong(t.shape[i]);
    if (d == nullptr) return nullptr;
    PyTuple_SET_ITEM(shape.get(), static_cast<Py_ssize_t>(i), d);
  }
  PyRef bytes(PyBytes_FromStringAndSize(reinterpret_cast<const char*>(t.data.data()),
                                        static_cast<Py_ssize_t>(t.data.size())));
  if (!bytes) return nullptr;
  const std::string datatype(TensorDTypeName(t.dtype));
  return Py_BuildValue("(ssOO)", t.name.c_str(), datatype.c_str(), shape.get(), bytes.get());
}

// call(model: str, version: int, inputs: [(name, datatype, shape, buffer)], id: str,
// parameters: str (a JSON object, or "")) -> [(name, datatype, shape, bytes)]; a failure
// raises RuntimeError("<StatusCodeName>\t<why>").
PyObject* Call(PyObject*, PyObject* args) {
  const char* model = nullptr;
  long long version = -1;
  PyObject* inputs = nullptr;
  const char* id = "";
  const char* parameters = "";
  if (!PyArg_ParseTuple(args, "sLO|ss", &model, &version, &inputs, &id, &parameters)) {
    return nullptr;
  }
  PyRef items(PySequence_Fast(inputs, "BLS inputs must be a sequence"));
  if (!items) return nullptr;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(items.get());
  std::vector<Buffer> buffers(static_cast<size_t>(n));
  BlsCall call;
  call.model = model;
  call.version = version;
  call.id = id;
  call.parameters = parameters;
  call.inputs.resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!ReadInput(PySequence_Fast_GET_ITEM(items.get(), i), &call.inputs[static_cast<size_t>(i)],
                   &buffers[static_cast<size_t>(i)])) {
      return nullptr;
    }
  }
  Result<std::vector<HostTensor>> out = Status(StatusCode::kUnavailable, "BLS is not served here");
  // The callee may be a Python model of this worker (it takes the GIL again) or a
  // TorchScript one (which runs without it).
  const BlsRouter* bls = g_bls.load();
  Py_BEGIN_ALLOW_THREADS;
  if (bls != nullptr) out = bls->Call(call);
  Py_END_ALLOW_THREADS;
  if (!out.ok()) {
    const std::string text =
        std::string(StatusCodeName(out.status().code())) + "\t" + out.status().message();
    PyErr_SetString(PyExc_RuntimeError, text.c_str());
    return nullptr;
  }
  PyRef list(PyList_New(0));
  if (!list) return nullptr;
  for (const HostTensor& t : *out) {
    PyRef tuple(OutputTuple(t));
    if (!tuple || PyList_Append(list.get(), tuple.get()) != 0) return nullptr;
  }
  return list.release();
}

PyMethodDef kMethods[] = {
    {"call", Call, METH_VARARGS, "Runs a BLS call into a model of this worker."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "_modelgrid_bls",
                       nullptr,
                       -1,
                       kMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace

Status InstallBlsModule(const BlsRouter* bls) {
  g_bls.store(bls);
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = InstallModule(&kModule); });
  return status;
}

}  // namespace modelgrid::python
