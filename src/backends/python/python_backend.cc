#include "backends/python/python_backend.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <nlohmann/json.hpp>

#include "backends/python/bls_module.h"
#include "backends/python/interpreter.h"
#include "backends/python/output_tuples.h"
#include "backends/python/response_module.h"
#include "common/process_memory.h"

namespace modelgrid {

namespace {

using python::Gil;
using python::PyRef;
using python::TakeError;

// A tuple of Python ints from `shape` (GIL held).
PyRef ShapeTuple(const std::vector<int64_t>& shape) {
  PyRef tuple(PyTuple_New(static_cast<Py_ssize_t>(shape.size())));
  for (size_t i = 0; tuple && i < shape.size(); ++i) {
    PyTuple_SET_ITEM(tuple.get(), static_cast<Py_ssize_t>(i), PyLong_FromLongLong(shape[i]));
  }
  return tuple;
}

// The (name, datatype, shape, memoryview) tuples execute takes; the memoryviews borrow the
// views' bytes (GIL held).
Result<PyRef> InputTuples(const std::vector<HostTensorView>& inputs) {
  static char empty = 0;  // a memoryview needs an address even for no bytes
  PyRef list(PyList_New(static_cast<Py_ssize_t>(inputs.size())));
  if (!list) return TakeError("building inputs");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const HostTensorView& v = inputs[i];
    char* data = v.byte_size ? const_cast<char*>(reinterpret_cast<const char*>(v.data)) : &empty;
    PyRef view(PyMemoryView_FromMemory(data, static_cast<Py_ssize_t>(v.byte_size), PyBUF_WRITE));
    PyRef shape = ShapeTuple(v.shape);
    if (!view || !shape) return TakeError("building input '" + v.name + "'");
    PyObject* t = Py_BuildValue("(s#sNN)", v.name.data(), static_cast<Py_ssize_t>(v.name.size()),
                                std::string(TensorDTypeName(v.dtype)).c_str(), shape.release(),
                                view.release());
    if (t == nullptr) return TakeError("building input '" + v.name + "'");
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), t);
  }
  return list;
}

// The elements of a well-formed BYTES [requests] tensor (kRequestIdsTensor,
// kRequestParametersTensor) as a list of str (GIL held; null with a Python error set).
PyObject* RequestStrings(const HostTensorView& strings) {
  PyRef list(PyList_New(0));
  for (size_t pos = 0; list && pos < strings.byte_size;) {
    const uint32_t len = LoadU32LE(strings.data + pos);
    PyRef text(PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(strings.data + pos + 4), len,
                                    "replace"));
    if (!text || PyList_Append(list.get(), text.get()) != 0) return nullptr;
    pos += 4 + len;
  }
  return list.release();
}

// torch's CUDA caching allocator in this process, when a model has initialised CUDA through
// torch (GIL held): allocated and peak allocated bytes.
struct CudaBytes {
  uint64_t allocated = 0;
  uint64_t peak = 0;
};
CudaBytes ReadCudaBytes() {
  PyRef stats(PyObject_CallMethod(python::Runtime(), "cuda_memory", nullptr));
  CudaBytes bytes;
  unsigned long long allocated = 0, reserved = 0, peak = 0;
  if (stats && stats.get() != Py_None &&
      PyArg_ParseTuple(stats.get(), "KKK", &allocated, &reserved, &peak)) {
    bytes = {allocated, peak};
  }
  PyErr_Clear();
  return bytes;
}

bool OnCuda(const ModelInstanceConfig& config) { return config.device.rfind("cuda", 0) == 0; }

class PythonInstance final : public ModelInstance {
 public:
  // Takes the reference to `loaded` (a runtime LoadedModel). `before`: the process's memory
  // before its import (RSS on the host; torch's allocated CUDA bytes on a GPU).
  PythonInstance(ModelInstanceConfig config, PyObject* loaded, uint64_t before, uint64_t load_bytes)
      : config_(std::move(config)), loaded_(loaded), before_(before), peak_bytes_(load_bytes) {}

  ~PythonInstance() override {
    Gil gil;
    PyRef done(PyObject_CallMethod(loaded_.get(), "finalize", nullptr));
    if (!done) {
      const Status st = TakeError("model " + config_.model_name + ": finalize");
      std::fprintf(stderr, "%s\n", st.message().c_str());
    }
    loaded_ = PyRef();
  }

  Result<std::vector<HostTensor>> Infer(const std::vector<HostTensorView>& given) override {
    if (config_.decoupled) {
      return InvalidArgument("model '" + config_.model_name +
                             "' is decoupled: its requests are streamed (InferDecoupled)");
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<HostTensor> outputs;
    {
      Gil gil;
      MG_ASSIGN_OR_RETURN(PyRef result, Execute(given, nullptr));
      MG_ASSIGN_OR_RETURN(outputs, python::OutputTensors(result.get(), "execute's outputs"));
    }
    NotePeak();
    return outputs;
  }

  // The runtime's execute_decoupled: the request gets a response sender that sends to
  // `sink` (response_module.h), now or from the model's threads later.
  Status InferDecoupled(const std::vector<HostTensorView>& given,
                        std::shared_ptr<ResponseSink> sink) override {
    if (!config_.decoupled) return ModelInstance::InferDecoupled(given, std::move(sink));
    std::lock_guard<std::mutex> lock(mu_);
    Status st;
    {
      Gil gil;
      PyRef capsule(python::SinkCapsule(sink));
      st = capsule ? Execute(given, capsule.get()).status()
                   : TakeError("model " + config_.model_name);
      // The error ends the request before the capsule can (a capsule dropped without the
      // final flag says only that).
      if (!st.ok()) (void)sink->Send(Result<std::vector<HostTensor>>(st), true);
    }
    NotePeak();
    return st;
  }

  // No forward pass: Triton runs a Python model's execute only on requests (or its
  // model_warmup samples), since execute may not accept zeros. The footprint is what import
  // and initialize measured, and it grows with the peaks requests reach.
  Result<MemoryStats> WarmUp() override {
    std::lock_guard<std::mutex> lock(mu_);
    return Memory();
  }

  // On the host the growth is measured, not capped: what execute and initialize allocate
  // cannot be limited from outside the interpreter. The server compares it with the plan.
  MemoryStats Memory() override {
    MemoryStats stats;
    if (OnCuda(config_)) {  // the same LibTorch as the TorchScript models': its allocator
      Gil gil;
      const CudaBytes cuda = ReadCudaBytes();
      stats.allocated_bytes = Growth(cuda.allocated, before_);
      stats.peak_bytes = std::max(peak_bytes_.load(), Growth(cuda.peak, before_));
      stats.source = "torch's CUDA caching allocator: allocated since this model's import";
    } else {
      stats.allocated_bytes = Growth(ReadRssBytes(), before_) + python::InterpreterBytes();
      stats.peak_bytes = std::max(peak_bytes_.load(), stats.allocated_bytes);
      stats.source = "process RSS growth since this model's import (import and initialize)";
    }
    stats.reserved_bytes = stats.allocated_bytes;
    return stats;
  }

  const ModelInstanceConfig& config() const override { return config_; }

 private:
  // One execution's tensors: the model's inputs, and what the server adds for a backend
  // that hands the model each request (backends/backend.h).
  struct Call {
    std::vector<HostTensorView> inputs;
    std::vector<int64_t> batches;                // kRequestBatchesTensor, or none
    const HostTensorView* ids = nullptr;         // kRequestIdsTensor
    const HostTensorView* parameters = nullptr;  // kRequestParametersTensor
    const HostTensorView* requested = nullptr;   // kRequestedOutputsTensor
  };

  // Calls the runtime's execute (or, with `sender`, execute_decoupled) on `given` (GIL held).
  Result<PyRef> Execute(const std::vector<HostTensorView>& given, PyObject* sender) {
    MG_ASSIGN_OR_RETURN(Call call, SplitCall(given));
    MG_RETURN_IF_ERROR(CheckInputs(call.inputs));
    MG_ASSIGN_OR_RETURN(PyRef tuples, InputTuples(call.inputs));
    PyRef requested(call.requested ? RequestStrings(*call.requested) : Py_NewRef(Py_None));
    PyRef sizes(call.batches.empty() ? Py_NewRef(Py_None)
                                     : PyList_New(static_cast<Py_ssize_t>(call.batches.size())));
    PyRef ids(call.ids ? RequestStrings(*call.ids) : Py_NewRef(Py_None));
    PyRef parameters(call.parameters ? RequestStrings(*call.parameters) : Py_NewRef(Py_None));
    if (!sizes || !requested || !ids || !parameters) {
      return TakeError("model " + config_.model_name);
    }
    for (size_t i = 0; i < call.batches.size(); ++i) {
      PyList_SET_ITEM(sizes.get(), static_cast<Py_ssize_t>(i),
                      PyLong_FromLongLong(call.batches[i]));
    }
    PyRef result(
        sender == nullptr
            ? PyObject_CallMethod(loaded_.get(), "execute", "OOOOO", tuples.get(), ids.get(),
                                  parameters.get(), requested.get(), sizes.get())
            : PyObject_CallMethod(loaded_.get(), "execute_decoupled", "OOOOO", tuples.get(),
                                  ids.get(), parameters.get(), requested.get(), sender));
    if (!result) return TakeError("model " + config_.model_name);
    return result;
  }

  static Result<Call> SplitCall(const std::vector<HostTensorView>& given) {
    Call call;
    for (const HostTensorView& view : given) {
      if (view.name == kRequestIdsTensor || view.name == kRequestParametersTensor ||
          view.name == kRequestedOutputsTensor) {
        if (view.dtype != TensorDType::kBytes || view.shape.size() != 1 ||
            BytesElementCount(view.data, view.byte_size) != view.shape[0]) {
          return InvalidArgument(view.name + " must be BYTES [requests]");
        }
        (view.name == kRequestIdsTensor          ? call.ids
         : view.name == kRequestParametersTensor ? call.parameters
                                                 : call.requested) = &view;
      } else if (view.name == kRequestBatchesTensor) {
        if (view.dtype != TensorDType::kInt64 || view.shape.size() != 1 ||
            view.byte_size != static_cast<size_t>(view.shape[0]) * sizeof(int64_t)) {
          return InvalidArgument(view.name + " must be INT64 [requests]");
        }
        call.batches.resize(static_cast<size_t>(view.shape[0]));
        if (view.byte_size > 0) std::memcpy(call.batches.data(), view.data, view.byte_size);
      } else {
        call.inputs.push_back(view);
      }
    }
    return call;
  }

  // Every declared input present once; each matches its spec. Without declared inputs, the
  // model takes what it is given.
  Status CheckInputs(const std::vector<HostTensorView>& inputs) const {
    for (const HostTensorView& view : inputs) {
      const IoSpec* spec = nullptr;
      for (const IoSpec& s : config_.inputs) {
        if (s.name == view.name) spec = &s;
      }
      if (spec == nullptr && !config_.inputs.empty()) {
        return InvalidArgument("unknown input '" + view.name + "' for model '" +
                               config_.model_name + "'");
      }
      MG_RETURN_IF_ERROR(CheckInputTensor(view, spec, config_.max_batch_size));
    }
    for (const IoSpec& s : config_.inputs) {
      size_t given = 0;
      for (const HostTensorView& view : inputs) given += view.name == s.name;
      if (given != 1) {
        return InvalidArgument("model '" + config_.model_name + "' expects input '" + s.name +
                               "' once, got it " + std::to_string(given) + " times");
      }
    }
    return Status::Ok();
  }

  void NotePeak() {
    if (OnCuda(config_)) return;  // the allocator keeps its own peak (Memory)
    const uint64_t now = Growth(ReadRssBytes(), before_) + python::InterpreterBytes();
    uint64_t seen = peak_bytes_.load();
    while (now > seen && !peak_bytes_.compare_exchange_weak(seen, now)) {
    }
  }

  const ModelInstanceConfig config_;
  std::mutex mu_;          // one Infer or WarmUp at a time
  PyRef loaded_;           // touched with the GIL held
  const uint64_t before_;  // `before` of the constructor
  std::atomic<uint64_t> peak_bytes_;
};

// Triton's initialize(args), as JSON.
std::string InitializeArgs(const ModelInstanceConfig& config) {
  namespace fs = std::filesystem;
  const bool gpu = OnCuda(config);
  const size_t colon = config.device.find(':');
  const std::string device_id = colon == std::string::npos ? "0" : config.device.substr(colon + 1);
  const fs::path version_dir = fs::path(config.path).parent_path();
  nlohmann::json args = {
      {"model_config", config.model_config_json.empty() ? "{}" : config.model_config_json},
      {"model_instance_kind", gpu ? "GPU" : "CPU"},
      {"model_instance_name", config.instance_name},
      {"model_instance_device_id", device_id},
      {"model_repository", version_dir.parent_path().string()},
      {"model_version", std::to_string(config.model_version)},
      {"model_name", config.model_name}};
  return args.dump();
}

class PythonBackend final : public Backend {
 public:
  explicit PythonBackend(const BlsRouter* bls) : bls_(bls) {}

  Result<std::unique_ptr<ModelInstance>> Load(const ModelInstanceConfig& config) override {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(config.path, ec)) {
      return NotFound("model file " + config.path + " does not exist");
    }
    MG_RETURN_IF_ERROR(python::StartInterpreter());
    MG_RETURN_IF_ERROR(python::InstallBlsModule(bls_));
    MG_RETURN_IF_ERROR(python::InstallResponseModule());
    const std::string args = InitializeArgs(config);
    const uint64_t rss_before = ReadRssBytes();
    const bool hwm_reset = ResetPeakRss();
    PyRef loaded;
    CudaBytes cuda_before, cuda_after;
    {
      Gil gil;
      if (OnCuda(config)) cuda_before = ReadCudaBytes();
      loaded = PyRef(
          PyObject_CallMethod(python::Runtime(), "load", "ss", config.path.c_str(), args.c_str()));
      if (!loaded) return TakeError("model " + config.model_name);
      if (OnCuda(config)) cuda_after = ReadCudaBytes();
    }
    if (OnCuda(config)) {  // device memory: what torch's allocator gained, at its peak
      return std::unique_ptr<ModelInstance>(
          std::make_unique<PythonInstance>(config, loaded.release(), cuda_before.allocated,
                                           Growth(cuda_after.peak, cuda_before.allocated)));
    }
    // Import and initialize's growth (the peak when the kernel could reset it, else now),
    // plus the interpreter's own start, which every Python model is charged: a model
    // measured in a shared worker may later run in a worker of its own.
    const uint64_t grew = Growth(hwm_reset ? ReadPeakRssBytes() : ReadRssBytes(), rss_before) +
                          python::InterpreterBytes();
    return std::unique_ptr<ModelInstance>(
        std::make_unique<PythonInstance>(config, loaded.release(), rss_before, grew));
  }

  std::string Name() const override { return "python"; }

  std::string CustomMetrics() override {
    if (!python::StartInterpreter().ok() || python::Runtime() == nullptr) return "";
    Gil gil;
    PyRef text(PyObject_CallMethod(python::Runtime(), "metrics_json", nullptr));
    const char* utf8 = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
    if (utf8 == nullptr) {
      PyErr_Clear();
      return "";
    }
    return utf8;
  }

 private:
  const BlsRouter* const bls_;
};

}  // namespace

std::unique_ptr<Backend> CreatePythonBackend(const BlsRouter* bls) {
  return std::make_unique<PythonBackend>(bls);
}

Result<std::string> AutoCompletePythonConfig(const std::string& model_py,
                                             const std::string& config_json) {
  MG_RETURN_IF_ERROR(python::StartInterpreter());
  Gil gil;
  PyRef config(PyObject_CallMethod(python::Runtime(), "auto_complete", "ss", model_py.c_str(),
                                   config_json.c_str()));
  if (!config) return TakeError("auto_complete_config of " + model_py);
  const char* text = PyUnicode_AsUTF8(config.get());
  if (text == nullptr) return TakeError("auto_complete_config of " + model_py);
  return std::string(text);
}

}  // namespace modelgrid
