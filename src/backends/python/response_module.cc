#include "backends/python/response_module.h"

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/python/interpreter.h"
#include "backends/python/output_tuples.h"

namespace modelgrid::python {

namespace {

constexpr const char* kCapsuleName = "modelgrid.ResponseSink";

void DropCapsule(PyObject* capsule) {
  auto* sink =
      static_cast<std::shared_ptr<ResponseSink>*>(PyCapsule_GetPointer(capsule, kCapsuleName));
  if (sink == nullptr) {
    PyErr_Clear();
    return;
  }
  // Refused (and harmless) when the final response went already.
  (void)(*sink)->Send(Result<std::vector<HostTensor>>(Internal(
                          "the model released the request's response sender without sending "
                          "the final flag (TRITONSERVER_RESPONSE_COMPLETE_FINAL)")),
                      true);
  delete sink;
}

ResponseSink* SinkOf(PyObject* capsule) {
  auto* sink =
      static_cast<std::shared_ptr<ResponseSink>*>(PyCapsule_GetPointer(capsule, kCapsuleName));
  return sink == nullptr ? nullptr : sink->get();
}

// send(capsule, outputs: [(name, datatype, shape, buffer)] | None, error_code: str,
// error_message: str, final: bool) -> None. With error_code not "", the response is that
// error (a StatusCodeName); with outputs None and no error, only `final` is sent. A refused
// send raises RuntimeError saying why.
PyObject* Send(PyObject*, PyObject* args) {
  PyObject* capsule = nullptr;
  PyObject* outputs = nullptr;
  const char* code = "";
  const char* message = "";
  int final = 0;
  if (!PyArg_ParseTuple(args, "OOssp", &capsule, &outputs, &code, &message, &final)) {
    return nullptr;
  }
  ResponseSink* sink = SinkOf(capsule);
  if (sink == nullptr) return nullptr;
  std::optional<Result<std::vector<HostTensor>>> response;
  if (*code != '\0') {
    response = Result<std::vector<HostTensor>>(Status(StatusCodeFromName(code), message));
  } else if (outputs != Py_None) {
    Result<std::vector<HostTensor>> tensors = OutputTensors(outputs, "a response's outputs");
    if (!tensors.ok() && PyErr_Occurred()) return nullptr;
    response = std::move(tensors);
  }
  Status sent = Status::Ok();
  Py_BEGIN_ALLOW_THREADS;
  sent = sink->Send(std::move(response), final != 0);
  Py_END_ALLOW_THREADS;
  if (!sent.ok()) {
    PyErr_SetString(PyExc_RuntimeError, sent.message().c_str());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* Cancelled(PyObject*, PyObject* capsule) {
  ResponseSink* sink = SinkOf(capsule);
  if (sink == nullptr) return nullptr;
  return PyBool_FromLong(sink->cancelled() ? 1 : 0);
}

PyMethodDef kMethods[] = {
    {"send", Send, METH_VARARGS, "Sends one response of a decoupled model's request."},
    {"cancelled", Cancelled, METH_O, "Whether the server gave up on the request."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "_modelgrid_responses",
                       nullptr,
                       -1,
                       kMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace

Status InstallResponseModule() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = InstallModule(&kModule); });
  return status;
}

PyObject* SinkCapsule(std::shared_ptr<ResponseSink> sink) {
  auto* held = new std::shared_ptr<ResponseSink>(std::move(sink));
  PyObject* capsule = PyCapsule_New(held, kCapsuleName, DropCapsule);
  if (capsule == nullptr) delete held;
  return capsule;
}

}  // namespace modelgrid::python
