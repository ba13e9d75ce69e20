// The backend interface: how a worker loads a model file and runs inference on it, whatever
// the framework behind it. Only a backend's own .cc files include framework headers; this
// header and everything that uses it stay framework-free.
//
// Lifecycle: Backend::Load() -> ModelInstance (optionally WarmUp()) -> Infer()... -> destroy
// the instance to unload it. Tensors cross this interface as row-major host bytes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid {

// Element types a backend accepts, named as KServe v2 names them ("FP32", "BOOL"). The
// LibTorch backend takes kBool..kFp64 (LibTorch 1.13 has no unsigned types above 8 bits);
// the Python backend takes them all.
enum class TensorDType {
  kBool,
  kUInt8,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kBf16,
  kFp32,
  kFp64,
  kUInt16,
  kUInt32,
  kUInt64,
  // Variable-length elements, serialised as Triton does: per element a 4-byte
  // little-endian length and that many bytes, in row-major order.
  kBytes,
};
inline constexpr TensorDType kLastTensorDType = TensorDType::kBytes;

// Bytes per element (BOOL is one byte: 0 or 1); 0 for BYTES (variable length).
inline size_t TensorDTypeSize(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kBytes:
      return 0;
    case TensorDType::kBool:
    case TensorDType::kUInt8:
    case TensorDType::kInt8:
      return 1;
    case TensorDType::kInt16:
    case TensorDType::kUInt16:
    case TensorDType::kFp16:
    case TensorDType::kBf16:
      return 2;
    case TensorDType::kInt32:
    case TensorDType::kUInt32:
    case TensorDType::kFp32:
      return 4;
    case TensorDType::kInt64:
    case TensorDType::kUInt64:
    case TensorDType::kFp64:
      return 8;
  }
  return 0;
}

// The KServe v2 name: "BOOL", "UINT8", ..., "FP16", "BF16", "FP32", "FP64".
inline std::string_view TensorDTypeName(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kBool:
      return "BOOL";
    case TensorDType::kUInt8:
      return "UINT8";
    case TensorDType::kInt8:
      return "INT8";
    case TensorDType::kInt16:
      return "INT16";
    case TensorDType::kInt32:
      return "INT32";
    case TensorDType::kInt64:
      return "INT64";
    case TensorDType::kFp16:
      return "FP16";
    case TensorDType::kBf16:
      return "BF16";
    case TensorDType::kFp32:
      return "FP32";
    case TensorDType::kFp64:
      return "FP64";
    case TensorDType::kUInt16:
      return "UINT16";
    case TensorDType::kUInt32:
      return "UINT32";
    case TensorDType::kUInt64:
      return "UINT64";
    case TensorDType::kBytes:
      return "BYTES";
  }
  return "?";
}

// Parses a KServe name ("FP32") or a Triton config.pbtxt one ("TYPE_FP32"; Triton's
// "TYPE_STRING" is BYTES). kInvalidArgument for anything else.
inline Result<TensorDType> ParseTensorDType(std::string_view text) {
  if (text == "TYPE_STRING") return TensorDType::kBytes;
  if (text.substr(0, 5) == "TYPE_") text.remove_prefix(5);
  for (int i = 0; i <= static_cast<int>(kLastTensorDType); ++i) {
    auto dtype = static_cast<TensorDType>(i);
    if (text == TensorDTypeName(dtype)) return dtype;
  }
  return InvalidArgument("unsupported tensor dtype '" + std::string(text) + "'");
}

// Elements in `shape`; 1 for a scalar (empty shape).
inline int64_t ShapeElementCount(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

// "[2, 3, 4]".
inline std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A tensor that owns its bytes: what Infer() returns.
struct HostTensor {
  std::string name;
  TensorDType dtype = TensorDType::kFp32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // row-major, ShapeElementCount(shape) * TensorDTypeSize bytes
};

// A tensor that borrows its bytes (a request body, a shared-memory arena slot): what Infer()
// takes. The bytes must outlive the call that receives the view.
struct HostTensorView {
  std::string name;
  TensorDType dtype = TensorDType::kFp32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // row-major; borrowed
  size_t byte_size = 0;           // must equal ShapeElementCount(shape) * TensorDTypeSize
};

// A view of `tensor`, valid while `tensor` lives and is not resized.
inline HostTensorView ViewOf(const HostTensor& tensor) {
  return {tensor.name, tensor.dtype, tensor.shape, tensor.data.data(), tensor.data.size()};
}

// A batch of requests that the server runs as one execution (its dynamic batcher) arrives
// with its inputs concatenated along dimension 0. For a backend that hands the model each
// request (Python's execute(requests)), the server adds an INT64 [requests] input of this
// name: each request's batch size, in order. The outputs may then include one more,
// kRequestErrorsTensor: BYTES [requests], "" for a request that succeeded, else
// "<StatusCodeName>\t<message>" (its rows of the other outputs are filler).
inline constexpr std::string_view kRequestBatchesTensor = "__modelgrid_requests__";
// For such a backend, the server adds the requests' ids (when any has one) as a BYTES
// [requests] input of this name, in order, also for a single request.
inline constexpr std::string_view kRequestIdsTensor = "__modelgrid_request_ids__";
// ... and their custom parameters (when any has some) as a BYTES [requests] input of this
// name: each request's parameters as a JSON object.
inline constexpr std::string_view kRequestParametersTensor = "__modelgrid_parameters__";
// ... and the outputs they asked for (when any asked for some; the requests of one batch
// ask for the same) as a BYTES [requests] input of this name: each a JSON array of names,
// "" for all (pb_utils' requested_output_names()).
inline constexpr std::string_view kRequestedOutputsTensor = "__modelgrid_requested_outputs__";
inline constexpr std::string_view kRequestErrorsTensor = "__modelgrid_errors__";

// One input or output of a model, as config.pbtxt declares it.
struct IoSpec {
  std::string name;  // "INPUT__0" (forward argument 0), a forward argument name, a dict key
  TensorDType dtype = TensorDType::kFp32;
  // Without the batch dimension when max_batch_size > 0; -1 marks a variable dimension.
  std::vector<int64_t> dims;
};

struct ModelInstanceConfig {
  // Which backend loads it: "pytorch" (TorchScript) or "python" (Triton's model.py).
  std::string backend = "pytorch";
  std::string path;            // the model file: model.pt (TorchScript) or model.py
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
  // What a backend may hand the model about itself (the Python backend's initialize args):
  // the served name and version, the config in Triton's JSON form, and the instance's name.
  std::string model_name;
  int64_t model_version = 0;
  std::string model_config_json;
  std::string instance_name;
  // Triton's meaning: > 0 means every input and output has a leading batch dimension of at
  // most this size, not listed in `dims`; 0 means the model takes no batch dimension.
  int64_t max_batch_size = 0;
  // Inputs in forward-argument order (INPUT__i names override the order). Empty: requests
  // are passed positionally as given (INPUT__i names still pick positions) and only the
  // model itself validates them; WarmUp() then fails.
  std::vector<IoSpec> inputs;
  // Outputs to return, in this order. Empty: all of them, named OUTPUT__i (or by dict key).
  // Only `name` and `dtype` are checked against what the model produces; `dims` (empty when
  // not declared) serve the CPU memory cap's output estimate.
  std::vector<IoSpec> outputs;
  // Memory cap of the instance in bytes, 0 for none. On CUDA it becomes the caching
  // allocator's per-process memory fraction of the device (so instances sharing a worker
  // should pass the worker's cap); on the CPU Load() rejects weights above it and Infer()
  // rejects requests whose weights + inputs + estimated outputs exceed it (outputs from
  // `outputs` dims when all are declared, else the largest bytes per sample seen so far).
  uint64_t memory_limit_bytes = 0;
  // CUDA: run on a stream of the instance's own, so that instances of one model overlap on
  // the GPU. Off, the instance uses the device's default stream; instances that never run
  // side by side (a shared worker's) then share one cuBLAS workspace, which LibTorch keeps
  // per stream for the life of the process.
  bool own_stream = false;
  // Triton's decoupled transaction policy: the model answers a request with any number of
  // responses, through InferDecoupled; Infer() is refused.
  bool decoupled = false;
};

// Memory an instance uses, in bytes.
struct MemoryStats {
  uint64_t weights_bytes = 0;  // parameters and buffers of the loaded model
  // CUDA: the caching allocator's allocated bytes now. CPU: process RSS growth since the
  // load began (an estimate: other instances loaded since then count too).
  uint64_t allocated_bytes = 0;
  uint64_t reserved_bytes = 0;  // CUDA: the allocator's reserved (cached) bytes; CPU: = allocated
  // CUDA: the allocator's peak allocated since load or the last WarmUp(), less what it held
  // before this instance was loaded (other instances' weights, the cuBLAS workspaces that
  // earlier instances created: the first instance to use cuBLAS carries them). CPU: the process's
  // peak RSS (VmHWM, reset before warm-up when the kernel allows) minus RSS before load, at
  // least the largest growth any Memory() call has seen.
  uint64_t peak_bytes = 0;
  std::string source;  // how the numbers were measured, e.g. "cuda caching allocator"
};

// One loaded model on one device. Destroying it unloads the model and releases its memory
// (on CUDA the allocator's cache is emptied too). Methods are thread-safe: Infer() and
// WarmUp() calls are serialised per instance; run several instances for concurrency.
class ModelInstance {
 public:
  virtual ~ModelInstance() = default;

  // Runs one forward pass. `inputs` are validated against the config: count, names, dtypes,
  // shapes and the batch dimension (<= max_batch_size when it is > 0); a mismatch gives
  // kInvalidArgument naming the input. kResourceExhausted when the request would exceed
  // memory_limit_bytes; kInternal when the model itself fails. Blocks for the forward pass.
  // On the CPU the model reads the caller's bytes in place (no copy) when they are aligned,
  // so models must not modify their inputs in place.
  virtual Result<std::vector<HostTensor>> Infer(const std::vector<HostTensorView>& inputs) = 0;

  // A decoupled model's request: the model sends its responses to `sink`, during the call
  // or from its own threads after it returns, the last one with final set. The inputs stay
  // valid until that final response. An error returned here ends the request with that
  // error unless the model already sent its final response. The default: kUnsupported.
  virtual Status InferDecoupled(const std::vector<HostTensorView>& inputs,
                                std::shared_ptr<class ResponseSink> sink);

  // Runs one forward pass at the maximum batch (1 without a batch dimension) with zero inputs,
  // variable dims set to 1, and returns the memory measured around it (peak_bytes is the
  // number the planner wants). kInvalidArgument when the config lists no inputs.
  virtual Result<MemoryStats> WarmUp() = 0;

  // The instance's memory now. Does not block on a running Infer().
  virtual MemoryStats Memory() = 0;

  // The host-memory tier: Park() copies the instance's weights and buffers to host memory
  // (pinned on CUDA) and frees them on its device; Unpark() copies them back. Each returns
  // the bytes it moved and waits for a running Infer(); while parked, Infer() fails with
  // kUnavailable. Parking a parked instance (or unparking one that is not) is
  // kInvalidArgument. The default: kUnsupported.
  virtual Result<uint64_t> Park() { return Status(StatusCode::kUnsupported, "cannot park"); }
  virtual Result<uint64_t> Unpark() { return Status(StatusCode::kUnsupported, "cannot park"); }

  virtual const ModelInstanceConfig& config() const = 0;
};

// Where a decoupled model's responses go (ModelInstance::InferDecoupled). Thread-safe.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // One response (outputs, or the error that fails it) in order; `final` ends the request.
  // Without a response (nullopt) only `final` is sent. After the final one: kUnavailable.
  virtual Status Send(std::optional<Result<std::vector<HostTensor>>> response, bool final) = 0;
  // True once the server gave up on the request (a response it could not take); what is
  // sent after that is dropped.
  virtual bool cancelled() const = 0;
};

inline Status ModelInstance::InferDecoupled(const std::vector<HostTensorView>&,
                                            std::shared_ptr<ResponseSink>) {
  return Status(StatusCode::kUnsupported,
                "model '" + config().model_name + "' is not decoupled: its backend answers once");
}

// Appends `s` to serialised BYTES `out` as one element: its 4-byte little-endian length,
// then its bytes.
inline void AppendBytesElement(std::string* out, std::string_view s) {
  const auto n = static_cast<uint32_t>(s.size());
  for (int shift = 0; shift < 32; shift += 8) out->push_back(static_cast<char>(n >> shift));
  out->append(s);
}

// A 4-byte little-endian unsigned integer (a BYTES element's length prefix).
inline uint32_t LoadU32LE(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// The number of elements in `size` bytes of serialised BYTES (4-byte little-endian length,
// then the bytes, per element), or -1 when they are not exactly such a sequence.
inline int64_t BytesElementCount(const uint8_t* data, size_t size) {
  int64_t count = 0;
  size_t pos = 0;
  while (pos < size) {
    if (size - pos < 4) return -1;
    const uint32_t len = LoadU32LE(data + pos);
    pos += 4;
    if (len > size - pos) return -1;
    pos += len;
    ++count;
  }
  return count;
}

// Checks one input against its spec (nullptr: no spec, only self-consistency): dtype, dims
// (-1 matches any size), the batch dimension (present and <= max_batch_size when that is
// > 0), no negative dims, and byte_size = elements * dtype size (BYTES: exactly as many
// well-formed length-prefixed elements as the shape has). kInvalidArgument naming the
// input otherwise. For backends; framework-independent.
inline Status CheckInputTensor(const HostTensorView& view, const IoSpec* spec,
                               int64_t max_batch_size) {
  const std::string what = "input '" + view.name + "'";
  const bool batched = max_batch_size > 0;
  if (spec != nullptr && view.dtype != spec->dtype) {
    return InvalidArgument(what + " has dtype " + std::string(TensorDTypeName(view.dtype)) +
                           ", the model expects " + std::string(TensorDTypeName(spec->dtype)));
  }
  bool shape_ok = spec == nullptr || view.shape.size() == spec->dims.size() + (batched ? 1 : 0);
  for (size_t d = 0; spec != nullptr && shape_ok && d < spec->dims.size(); ++d) {
    const int64_t got = view.shape[d + (batched ? 1 : 0)];
    shape_ok = spec->dims[d] < 0 || got == spec->dims[d];
  }
  for (int64_t d : view.shape) shape_ok = shape_ok && d >= 0;
  if (!shape_ok || (batched && view.shape.empty())) {
    return InvalidArgument(what + " has shape " + ShapeToString(view.shape) +
                           ", the model expects " + (batched ? "[batch] + " : "") +
                           (spec ? ShapeToString(spec->dims) : "non-negative dims"));
  }
  if (batched && view.shape[0] > max_batch_size) {
    return InvalidArgument(what + " has batch " + std::to_string(view.shape[0]) +
                           ", above max_batch_size " + std::to_string(max_batch_size));
  }
  if (view.dtype == TensorDType::kBytes) {
    if (BytesElementCount(view.data, view.byte_size) != ShapeElementCount(view.shape)) {
      return InvalidArgument(what + " is not " + std::to_string(ShapeElementCount(view.shape)) +
                             " length-prefixed BYTES elements in " +
                             std::to_string(view.byte_size) + " bytes");
    }
    return Status::Ok();
  }
  const size_t bytes =
      static_cast<size_t>(ShapeElementCount(view.shape)) * TensorDTypeSize(view.dtype);
  if (bytes != view.byte_size || (bytes > 0 && view.data == nullptr)) {
    return InvalidArgument(what + " has " + std::to_string(view.byte_size) + " bytes, shape " +
                           ShapeToString(view.shape) + " needs " + std::to_string(bytes));
  }
  return Status::Ok();
}

// Zero-filled inputs at `batch` (default: the maximum batch; none without a batch
// dimension), variable dims set to 1: what WarmUp() runs.
inline std::vector<HostTensor> WarmUpInputs(const ModelInstanceConfig& config, int64_t batch = 0) {
  std::vector<HostTensor> zeros;
  for (const IoSpec& spec : config.inputs) {
    HostTensor t{spec.name, spec.dtype, {}, {}};
    if (config.max_batch_size > 0) t.shape.push_back(batch > 0 ? batch : config.max_batch_size);
    for (int64_t d : spec.dims) t.shape.push_back(d < 0 ? 1 : d);
    // BYTES: every element empty (its 4-byte length prefix, 0).
    const size_t element = spec.dtype == TensorDType::kBytes ? 4 : TensorDTypeSize(t.dtype);
    t.data.assign(static_cast<size_t>(ShapeElementCount(t.shape)) * element, 0);
    zeros.push_back(std::move(t));
  }
  return zeros;
}

// Bytes of all config outputs at `batch` (-1: no batch dimension), or 0 when any output
// leaves its dims undeclared (empty) or variable, or is BYTES.
inline uint64_t DeclaredOutputBytes(const ModelInstanceConfig& config, int64_t batch) {
  uint64_t total = 0;
  for (const IoSpec& spec : config.outputs) {
    if (spec.dims.empty() || spec.dtype == TensorDType::kBytes) return 0;
    for (int64_t d : spec.dims) {
      if (d < 0) return 0;
    }
    total += static_cast<uint64_t>(std::max<int64_t>(batch, 1) * ShapeElementCount(spec.dims)) *
             TensorDTypeSize(spec.dtype);
  }
  return total;
}

// Triton's BLS (business logic scripting): a model's own call into another served model
// (pb_utils.InferenceRequest(...).exec() in a Python model).
struct BlsCall {
  std::string model;
  int64_t version = -1;  // <= 0: whichever version is loaded
  std::vector<HostTensorView> inputs;
  std::string id;          // the request's id ("" for none)
  std::string parameters;  // its custom parameters as a JSON object ("" for none)
};
using BlsHandler = std::function<Result<std::vector<HostTensor>>(const BlsCall&)>;

// Where a backend sends its models' BLS calls: the worker that hosts them binds its handler
// before its first request and unbinds it after its last. Thread-safe once bound.
class BlsRouter {
 public:
  void Bind(BlsHandler handler) { handler_ = std::move(handler); }
  Result<std::vector<HostTensor>> Call(const BlsCall& call) const {
    if (!handler_) return Status(StatusCode::kUnavailable, "BLS calls are not served here");
    return handler_(call);
  }

 private:
  BlsHandler handler_;
};

// A framework. Thread-safe; it may be destroyed while instances it loaded are alive.
class Backend {
 public:
  virtual ~Backend() = default;

  // Loads `config.path` onto `config.device`. kNotFound when the file does not exist;
  // kUnavailable when the device does not exist in this build or machine; kInvalidArgument
  // when the file is not a model the backend can load or its inputs disagree with the config;
  // kResourceExhausted when the weights exceed memory_limit_bytes. Blocks while loading.
  virtual Result<std::unique_ptr<ModelInstance>> Load(const ModelInstanceConfig& config) = 0;

  virtual std::string Name() const = 0;  // "pytorch"

  // The metrics its models defined themselves (Python's pb_utils.MetricFamily), as a JSON
  // array of {"name", "help", "type": "counter"|"gauge", "samples": [{"labels": {..},
  // "value"}]}; "" when it has none. Thread-safe; may wait for a model's code to pause.
  virtual std::string CustomMetrics() { return ""; }
};

#if defined(MODELGRID_HAVE_TORCH)
// The LibTorch (TorchScript) backend; see backends/libtorch/torch_backend.h.
std::unique_ptr<Backend> CreateTorchBackend();
#endif

#if defined(MODELGRID_HAVE_PYTHON)
// The Python backend (Triton's model.py API, embedded CPython); see
// backends/python/python_backend.h. `bls` serves its models' BLS calls (null: none).
std::unique_ptr<Backend> CreatePythonBackend(const BlsRouter* bls = nullptr);
#endif

}  // namespace modelgrid
