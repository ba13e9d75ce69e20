#include "backends/python/interpreter.h"

#include <atomic>
#include <mutex>

#include "common/process_memory.h"

namespace modelgrid {
// The embedded modules (generated from backends/python/*.py by cmake/embed_text.cmake).
extern const char kPbUtilsSource[];
extern const char kRuntimeSource[];
}  // namespace modelgrid

namespace modelgrid::python {

namespace {

PyObject* g_runtime = nullptr;  // owned for the life of the process
std::atomic<uint64_t> g_interpreter_bytes{0};

// Compiles `source` and imports it as module `name` (registered in sys.modules).
Status ImportEmbedded(const char* name, const char* source) {
  const std::string file = std::string("<modelgrid>/") + name + ".py";
  PyRef code(Py_CompileString(source, file.c_str(), Py_file_input));
  if (!code) return TakeError(std::string("compiling ") + name);
  PyRef module(PyImport_ExecCodeModuleEx(name, code.get(), file.c_str()));
  if (!module) return TakeError(std::string("importing ") + name);
  return Status::Ok();
}

Status Start() {
  const uint64_t rss_before = ReadRssBytes();
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;  // the worker's signals stay the worker's
  config.parse_argv = 0;
  // The interpreter's prefix (and so numpy's and torch's site-packages) follow from the
  // executable's path: the one the build found, not whichever python3 is first on PATH.
  PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, MODELGRID_PYTHON_EXECUTABLE);
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(st)) {
    return Status(StatusCode::kUnavailable, std::string("cannot start Python: ") +
                                                (st.err_msg ? st.err_msg : "unknown error"));
  }
  // Holding the GIL from here until PyEval_SaveThread.
  Status status = [] {
    PyRun_SimpleString("import sys\nsys.argv = ['modelgrid-worker']\n");
    MG_RETURN_IF_ERROR(ImportEmbedded("triton_python_backend_utils", kPbUtilsSource));
    MG_RETURN_IF_ERROR(ImportEmbedded("modelgrid_python_runtime", kRuntimeSource));
    g_runtime = PyImport_ImportModule("modelgrid_python_runtime");
    if (g_runtime == nullptr) return TakeError("importing modelgrid_python_runtime");
    return Status::Ok();
  }();
  PyEval_SaveThread();
  if (!status.ok()) {
    return Status(StatusCode::kUnavailable, "Python backend: " + status.message());
  }
  g_interpreter_bytes = Growth(ReadRssBytes(), rss_before);
  return Status::Ok();
}

// str(obj), or "?" (GIL held; never leaves an exception set).
std::string Str(PyObject* obj) {
  PyRef s(obj ? PyObject_Str(obj) : nullptr);
  const char* text = s ? PyUnicode_AsUTF8(s.get()) : nullptr;
  if (text == nullptr) {
    PyErr_Clear();
    return "?";
  }
  return text;
}

}  // namespace

Status StartInterpreter() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = Start(); });
  return status;
}

uint64_t InterpreterBytes() { return g_interpreter_bytes.load(); }

PyObject* Runtime() { return g_runtime; }

Status InstallModule(PyModuleDef* def) {
  Gil gil;
  PyRef module(PyModule_Create(def));
  if (!module || PyDict_SetItemString(PyImport_GetModuleDict(), def->m_name, module.get()) != 0) {
    return TakeError(std::string("installing ") + def->m_name);
  }
  return Status::Ok();
}

Status TakeError(const std::string& context) {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  if (type == nullptr) return Internal(context + ": failed without a Python exception");
  PyErr_NormalizeException(&type, &value, &traceback);
  if (value != nullptr && traceback != nullptr) PyException_SetTraceback(value, traceback);
  PyRef t(type), v(value), tb(traceback);
  StatusCode code = StatusCode::kInternal;
  std::string message;
  PyRef error_class(g_runtime ? PyObject_GetAttrString(g_runtime, "ModelError") : nullptr);
  PyErr_Clear();
  if (error_class && PyObject_IsInstance(v.get(), error_class.get()) == 1) {
    message = Str(v.get());
    PyRef c(PyObject_GetAttrString(v.get(), "code"));
    code = StatusCodeFromName(Str(c.get()));
  } else {
    if (PyErr_GivenExceptionMatches(t.get(), PyExc_MemoryError)) {
      code = StatusCode::kResourceExhausted;
    }
    PyRef summary(g_runtime ? PyObject_CallMethod(g_runtime, "summarize", "O", v.get()) : nullptr);
    message = summary ? Str(summary.get()) : Str(v.get());
  }
  PyErr_Clear();
  return Status(code, context.empty() ? message : context + ": " + message);
}

}  // namespace modelgrid::python
