// The LibTorch backend: TorchScript load, validated inference, memory stats. See
// torch_backend.h for the contract. Every LibTorch exception becomes a Status here.
#include "backends/libtorch/torch_backend.h"

#include <torch/cuda.h>
#include <torch/script.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>

#include "backends/libtorch/weight_parking.h"
#include "common/process_memory.h"

#if defined(MODELGRID_TORCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
constexpr bool kCudaCompiledIn = true;
#else
constexpr bool kCudaCompiledIn = false;
#endif

namespace modelgrid {
namespace {

// The first line of a LibTorch message (the rest is a C++ or TorchScript backtrace).
std::string ErrorSummary(const std::string& what) { return what.substr(0, what.find('\n')); }

Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

// Indexed by TensorDType.
constexpr c10::ScalarType kScalarTypes[] = {
    torch::kBool,  torch::kUInt8, torch::kInt8,     torch::kInt16, torch::kInt32,
    torch::kInt64, torch::kHalf,  torch::kBFloat16, torch::kFloat, torch::kDouble};

// kBool..kFp64: the dtypes with a LibTorch 1.13 scalar type (kScalarTypes' rows).
bool TakesDType(TensorDType dtype) {
  return static_cast<int>(dtype) <= static_cast<int>(TensorDType::kFp64);
}

// Only for dtypes that TakesDType.
c10::ScalarType ToScalarType(TensorDType dtype) { return kScalarTypes[static_cast<int>(dtype)]; }

std::optional<TensorDType> FromScalarType(c10::ScalarType type) {
  for (int i = 0; i <= static_cast<int>(TensorDType::kFp64); ++i) {
    if (ToScalarType(static_cast<TensorDType>(i)) == type) return static_cast<TensorDType>(i);
  }
  return std::nullopt;
}

std::string OutputName(size_t index) { return "OUTPUT__" + std::to_string(index); }

// N for "<prefix>N" (such as INPUT__3), else -1.
int64_t IndexAfterPrefix(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  int64_t index = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || index > 1'000'000) return -1;
    index = index * 10 + (name[i] - '0');
  }
  return index;
}

// Runs `fn`, turning any exception into a Status prefixed with `context`.
template <typename Fn>
auto CatchAll(const std::string& context, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const c10::OutOfMemoryError& e) {
    return ResourceExhausted(context + ": out of memory: " + ErrorSummary(e.what()));
  } catch (const std::bad_alloc&) {
    return ResourceExhausted(context + ": out of host memory");
  } catch (const c10::Error& e) {
    return Internal(context + ": " + ErrorSummary(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal(context + ": " + ErrorSummary(e.what()));
  }
}

// --- One loaded module. ----------------------------------------------------------------

struct LoadFacts {
  std::vector<std::string> arg_names;  // forward's parameters without self
  size_t required_args = 0;            // those without a default value
  uint64_t weights_bytes = 0;
  uint64_t rss_before_load_bytes = 0;
  // CUDA: what the process's caching allocator held before the load, so that this
  // instance's peak excludes the weights and workspaces of instances loaded before it.
  uint64_t cuda_allocated_before_load_bytes = 0;
};

class TorchInstance final : public ModelInstance {
 public:
  TorchInstance(ModelInstanceConfig config, torch::jit::Module module, c10::Device device,
                LoadFacts facts)
      : config_(std::move(config)),
        module_(std::move(module)),
        device_(device),
        facts_(std::move(facts)) {
#if defined(MODELGRID_TORCH_CUDA)
    if (device_.is_cuda() && config_.own_stream) {
      stream_.emplace(c10::cuda::getStreamFromPool(false, device_.index()));
    }
#endif
  }

  ~TorchInstance() override {
    module_ = torch::jit::Module();  // frees the weights before the cache is emptied
#if defined(MODELGRID_TORCH_CUDA)
    if (device_.is_cuda()) {
      (void)CatchAll("", [] { return c10::cuda::CUDACachingAllocator::emptyCache(), Status(); });
    }
#endif
  }

  Result<std::vector<HostTensor>> Infer(const std::vector<HostTensorView>& inputs) override {
    std::lock_guard<std::mutex> lock(infer_mu_);
    return CatchAll(config_.path, [&] { return InferLocked(inputs); });
  }

  Result<MemoryStats> WarmUp() override;
  MemoryStats Memory() override;
  const ModelInstanceConfig& config() const override { return config_; }

  Result<uint64_t> Park() override {
    std::lock_guard<std::mutex> lock(infer_mu_);
    if (parked_) return InvalidArgument(config_.path + " is parked already");
    MG_ASSIGN_OR_RETURN(ParkedWeights parked, ParkedWeights::Park(module_));
    parked_.emplace(std::move(parked));
#if defined(MODELGRID_TORCH_CUDA)
    if (device_.is_cuda()) {  // the freed blocks go back to the device, not to the cache
      (void)CatchAll("", [] { return c10::cuda::CUDACachingAllocator::emptyCache(), Status(); });
    }
#endif
    return parked_->bytes();
  }

  Result<uint64_t> Unpark() override {
    std::lock_guard<std::mutex> lock(infer_mu_);
    if (!parked_) return InvalidArgument(config_.path + " is not parked");
    const uint64_t bytes = parked_->bytes();
    MG_RETURN_IF_ERROR(parked_->Restore(device_));
    parked_.reset();
    return bytes;
  }

  // Checks the config's inputs against forward's signature (called once by Load).
  Status CheckSignature() const;

 private:
  // Forward position of a tensor named `name`, or -1. `order` is its index in the list.
  int64_t PositionOf(const std::string& name, size_t order) const {
    if (int64_t i = IndexAfterPrefix(name, "INPUT__"); i >= 0) return i;
    auto it = std::find(facts_.arg_names.begin(), facts_.arg_names.end(), name);
    return it != facts_.arg_names.end() ? it - facts_.arg_names.begin()
                                        : static_cast<int64_t>(order);
  }

  Result<std::vector<HostTensor>> InferLocked(const std::vector<HostTensorView>& inputs);
  Status Validate(const std::vector<HostTensorView>& inputs, std::vector<size_t>& position,
                  int64_t& batch, uint64_t& input_bytes) const;
  torch::Tensor ToTensor(const HostTensorView& view) const;
  Result<std::vector<HostTensor>> ToOutputs(const c10::IValue& result) const;

  const ModelInstanceConfig config_;
  std::mutex infer_mu_;  // serialises forward passes
  torch::jit::Module module_;
  std::optional<ParkedWeights> parked_;  // set while the weights are in host memory
  const c10::Device device_;
  const LoadFacts facts_;
#if defined(MODELGRID_TORCH_CUDA)
  std::optional<c10::cuda::CUDAStream> stream_;  // CUDA instances: where they compute
#endif

  std::mutex stats_mu_;
  uint64_t peak_bytes_ = 0;               // see MemoryStats::peak_bytes
  uint64_t output_bytes_per_sample_ = 0;  // largest seen, for the CPU memory cap
};

Status TorchInstance::CheckSignature() const {
  const size_t n = config_.inputs.size();
  if (n == 0) return Status::Ok();
  if (n < facts_.required_args || n > facts_.arg_names.size()) {
    return InvalidArgument(config_.path + ": config lists " + std::to_string(n) +
                           " inputs, forward takes " + std::to_string(facts_.required_args) +
                           " to " + std::to_string(facts_.arg_names.size()));
  }
  std::set<int64_t> seen;
  for (size_t j = 0; j < n; ++j) {
    int64_t pos = PositionOf(config_.inputs[j].name, j);
    if (pos >= static_cast<int64_t>(n) || !seen.insert(pos).second) {
      return InvalidArgument(config_.path + ": config input " + config_.inputs[j].name +
                             " does not map to a distinct forward argument below " +
                             std::to_string(n));
    }
  }
  return Status::Ok();
}

Status TorchInstance::Validate(const std::vector<HostTensorView>& inputs,
                               std::vector<size_t>& position, int64_t& batch,
                               uint64_t& input_bytes) const {
  const std::vector<IoSpec>& specs = config_.inputs;
  const size_t low = specs.empty() ? facts_.required_args : specs.size();
  const size_t high = specs.empty() ? facts_.arg_names.size() : specs.size();
  if (inputs.size() < low || inputs.size() > high) {
    return InvalidArgument("expected " + std::to_string(low) + " inputs, got " +
                           std::to_string(inputs.size()));
  }
  const bool batched = config_.max_batch_size > 0;
  batch = -1;
  position.assign(inputs.size(), 0);
  std::vector<bool> used(inputs.size(), false);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const HostTensorView& view = inputs[k];
    const std::string what = "input '" + view.name + "'";
    const IoSpec* spec = nullptr;
    if (!specs.empty()) {
      auto it = std::find_if(specs.begin(), specs.end(),
                             [&](const IoSpec& s) { return s.name == view.name; });
      if (it == specs.end()) return InvalidArgument("unknown " + what);
      spec = &*it;
    }
    MG_RETURN_IF_ERROR(CheckInputTensor(view, spec, config_.max_batch_size));
    if (!TakesDType(view.dtype)) {
      return InvalidArgument(what + " has dtype " + std::string(TensorDTypeName(view.dtype)) +
                             ", which TorchScript models do not take");
    }
    const int64_t pos = PositionOf(view.name, spec ? static_cast<size_t>(spec - specs.data()) : k);
    if (pos < 0 || pos >= static_cast<int64_t>(inputs.size()) || used[pos]) {
      return InvalidArgument(what + " does not name a distinct forward argument");
    }
    used[pos] = true;
    position[k] = static_cast<size_t>(pos);
    input_bytes += view.byte_size;
    if (batched) {
      if (batch >= 0 && view.shape[0] != batch) {
        return InvalidArgument(what + " has batch " + std::to_string(view.shape[0]) +
                               ", other inputs have " + std::to_string(batch));
      }
      batch = view.shape[0];
    }
  }
  return Status::Ok();
}

torch::Tensor TorchInstance::ToTensor(const HostTensorView& view) const {
  const auto options = torch::TensorOptions().dtype(ToScalarType(view.dtype));
  const size_t element = TensorDTypeSize(view.dtype);
  torch::Tensor tensor;
  if (view.byte_size > 0 && reinterpret_cast<uintptr_t>(view.data) % element == 0) {
    // Zero-copy: the tensor borrows the caller's bytes for the duration of the call.
    tensor = torch::from_blob(const_cast<uint8_t*>(view.data), view.shape, options);
  } else {
    tensor = torch::empty(view.shape, options);
    if (view.byte_size > 0) std::memcpy(tensor.data_ptr(), view.data, view.byte_size);
  }
  return device_.is_cpu() ? tensor : tensor.to(device_);
}

Result<std::vector<HostTensor>> TorchInstance::ToOutputs(const c10::IValue& result) const {
  // Flatten to (name, tensor): OUTPUT__i for tensors, tuples and lists; keys for dicts.
  std::vector<std::pair<std::string, c10::IValue>> produced;
  const bool is_dict = result.isGenericDict();
  if (result.isTensor()) {
    produced.emplace_back(OutputName(0), result);
  } else if (result.isTuple() || result.isList()) {
    c10::ArrayRef<c10::IValue> items =
        result.isTuple() ? result.toTupleRef().elements().asArrayRef() : result.toListRef();
    for (size_t i = 0; i < items.size(); ++i) produced.emplace_back(OutputName(i), items[i]);
  } else if (is_dict) {
    for (const auto& entry : result.toGenericDict()) {
      if (!entry.key().isString()) return Unsupported("dict output with non-string keys");
      produced.emplace_back(entry.key().toStringRef(), entry.value());
    }
  } else {
    return Unsupported("forward returned " + result.tagKind() +
                       "; expected a tensor, a tuple, a list or a dict of tensors");
  }
  std::vector<std::pair<std::string, const c10::IValue*>> wanted;
  if (config_.outputs.empty()) {
    for (const auto& [name, value] : produced) wanted.emplace_back(name, &value);
  }
  for (size_t j = 0; j < config_.outputs.size(); ++j) {
    const std::string& name = config_.outputs[j].name;
    const c10::IValue* value = nullptr;
    if (is_dict) {
      for (const auto& p : produced) value = p.first == name ? &p.second : value;
    } else {
      const int64_t i = IndexAfterPrefix(name, "OUTPUT__");
      const size_t index = i >= 0 ? static_cast<size_t>(i) : j;
      if (index < produced.size()) value = &produced[index].second;
    }
    if (value == nullptr) return Internal("the model produced no output '" + name + "'");
    wanted.emplace_back(name, value);
  }
  std::vector<HostTensor> outputs;
  for (size_t j = 0; j < wanted.size(); ++j) {
    const auto& [name, value] = wanted[j];
    if (!value->isTensor()) return Unsupported("output '" + name + "' is not a tensor");
    torch::Tensor t = value->toTensor().to(torch::kCPU).contiguous();
    std::optional<TensorDType> dtype = FromScalarType(t.scalar_type());
    if (!dtype) return Unsupported("output '" + name + "' has unsupported dtype");
    if (!config_.outputs.empty() && *dtype != config_.outputs[j].dtype) {
      return Internal("output '" + name + "' is " + std::string(TensorDTypeName(*dtype)) +
                      ", the config says " +
                      std::string(TensorDTypeName(config_.outputs[j].dtype)));
    }
    HostTensor out{name, *dtype, t.sizes().vec(), {}};
    const auto* bytes = static_cast<const uint8_t*>(t.data_ptr());
    out.data.assign(bytes, bytes + t.nbytes());
    outputs.push_back(std::move(out));
  }
  return outputs;
}

Result<std::vector<HostTensor>> TorchInstance::InferLocked(
    const std::vector<HostTensorView>& inputs) {
  if (parked_) {
    return Status(StatusCode::kUnavailable,
                  config_.path + " is parked in host memory: unpark it first");
  }
  std::vector<size_t> position;
  int64_t batch = -1;
  uint64_t input_bytes = 0;
  MG_RETURN_IF_ERROR(Validate(inputs, position, batch, input_bytes));
  if (config_.memory_limit_bytes > 0 && device_.is_cpu()) {
    // Outputs as declared, else at the largest bytes per sample seen so far.
    const uint64_t declared = DeclaredOutputBytes(config_, batch);
    const uint64_t need =
        facts_.weights_bytes + input_bytes +
        (declared > 0 ? declared : std::max<int64_t>(batch, 1) * output_bytes_per_sample_);
    if (need > config_.memory_limit_bytes) {
      return ResourceExhausted("request needs ~" + std::to_string(need) +
                               " bytes (weights + inputs + estimated outputs), above the "
                               "instance's memory_limit_bytes " +
                               std::to_string(config_.memory_limit_bytes));
    }
  }
  c10::InferenceMode inference_mode;
#if defined(MODELGRID_TORCH_CUDA)
  // Copies in, the forward pass and the (synchronous) copies out all use this stream.
  std::optional<c10::cuda::CUDAStreamGuard> on_stream;
  if (stream_) on_stream.emplace(*stream_);
#endif
  std::vector<c10::IValue> args(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) args[position[k]] = ToTensor(inputs[k]);
  c10::IValue result;
  try {
    result = module_.forward(std::move(args));
  } catch (const c10::Error& e) {
    if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) throw;  // see CatchAll
    return InvalidArgument("the model rejected its inputs: " +
                           ErrorSummary(e.what_without_backtrace()));
  }
  Result<std::vector<HostTensor>> outputs = ToOutputs(result);
  if (!outputs.ok()) return outputs.status().WithContext(config_.path);
  uint64_t output_bytes = 0;
  for (const HostTensor& t : *outputs) output_bytes += t.data.size();
  std::lock_guard<std::mutex> lock(stats_mu_);
  output_bytes_per_sample_ = std::max(
      output_bytes_per_sample_, output_bytes / static_cast<uint64_t>(std::max<int64_t>(batch, 1)));
  return outputs;
}

Result<MemoryStats> TorchInstance::WarmUp() {
  if (config_.inputs.empty()) {
    return InvalidArgument(config_.path + ": warm-up needs the config's input specs");
  }
  const std::vector<HostTensor> zeros = WarmUpInputs(config_);
  std::vector<HostTensorView> views;
  for (const HostTensor& t : zeros) views.push_back(ViewOf(t));

  std::lock_guard<std::mutex> lock(infer_mu_);
  bool hwm_reset = false;
  Status status = CatchAll(config_.path, [&]() -> Status {
#if defined(MODELGRID_TORCH_CUDA)
    if (device_.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device_.index());
#endif
    if (device_.is_cpu()) hwm_reset = ResetPeakRss();
    Result<std::vector<HostTensor>> outputs = InferLocked(views);
    return outputs.ok() ? Status::Ok() : outputs.status();
  });
  if (!status.ok()) return status.WithContext("warm-up");
  if (hwm_reset) {
    std::lock_guard<std::mutex> stats_lock(stats_mu_);
    peak_bytes_ = std::max(peak_bytes_, Growth(ReadPeakRssBytes(), facts_.rss_before_load_bytes));
  }
  // TorchScript's profiling executor specialises a graph on its first runs per input shape;
  // left to the first requests, that costs them tens of milliseconds each. When every dim
  // is fixed, settle it here for the largest batch and for single requests (smaller peaks
  // than the one measured). With variable dims the real shapes are unknown, and settling
  // on made-up ones spends the executor's specialisations on shapes no request has (it
  // made a 4-float model 30 us slower per request in bench/serve_bench).
  bool fixed = true;
  for (const IoSpec& spec : config_.inputs) {
    for (int64_t d : spec.dims) fixed = fixed && d >= 0;
  }
  std::vector<std::vector<HostTensor>> settle;
  if (fixed) settle = {zeros, zeros};
  if (fixed && config_.max_batch_size > 1) {
    settle.push_back(WarmUpInputs(config_, 1));
    settle.push_back(WarmUpInputs(config_, 1));
  }
  for (const auto& inputs : settle) {
    std::vector<HostTensorView> v;
    for (const HostTensor& t : inputs) v.push_back(ViewOf(t));
    Status run = CatchAll(config_.path, [&]() -> Status { return InferLocked(v).status(); });
    if (!run.ok()) return run.WithContext("warm-up");
  }
  return Memory();
}

MemoryStats TorchInstance::Memory() {
  MemoryStats stats;
  stats.weights_bytes = facts_.weights_bytes;
  if (device_.is_cpu()) {
    stats.allocated_bytes = Growth(ReadRssBytes(), facts_.rss_before_load_bytes);
    stats.reserved_bytes = stats.allocated_bytes;
    std::lock_guard<std::mutex> lock(stats_mu_);
    peak_bytes_ = std::max(peak_bytes_, stats.allocated_bytes);
    stats.peak_bytes = peak_bytes_;
    stats.source = "process RSS growth since load (/proc/self)";
    return stats;
  }
#if defined(MODELGRID_TORCH_CUDA)
  try {
    const auto device_stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index());
    // Index 0 is StatType::AGGREGATE (all pools) in every LibTorch version.
    stats.allocated_bytes = device_stats.allocated_bytes[0].current;
    stats.reserved_bytes = device_stats.reserved_bytes[0].current;
    stats.peak_bytes = Growth(static_cast<uint64_t>(device_stats.allocated_bytes[0].peak),
                              facts_.cuda_allocated_before_load_bytes);
    stats.source = "cuda caching allocator";
  } catch (const std::exception& e) {
    stats.source = "cuda caching allocator unavailable: " + ErrorSummary(e.what());
  }
#else
  stats.source = "weights only: built without MODELGRID_TORCH_CUDA";
#endif
  return stats;
}

// Sums parameters and buffers once per storage (tied weights count once).
uint64_t WeightsBytes(const torch::jit::Module& module) {
  std::set<const void*> seen;
  uint64_t total = 0;
  auto add = [&](const torch::Tensor& t) {
    const auto& storage = t.storage();
    if (storage && seen.insert(storage.data()).second) total += storage.nbytes();
  };
  for (const torch::Tensor& t : module.parameters()) add(t);
  for (const torch::Tensor& t : module.buffers()) add(t);
  return total;
}

Result<c10::Device> ParseDevice(const std::string& text) {
  c10::Device device = c10::kCPU;
  try {
    device = c10::Device(text);
  } catch (const c10::Error& e) {
    return InvalidArgument("bad device '" + text +
                           "': " + ErrorSummary(e.what_without_backtrace()));
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda()) return InvalidArgument("device '" + text + "': only cpu and cuda[:N]");
  if (!torch::cuda::is_available()) {
    return UnavailableError("device '" + text + "' requested, but " +
                            "CUDA is not available (a CPU-only LibTorch or no visible GPU)");
  }
  const int64_t index = device.has_index() ? device.index() : 0;
  if (index >= static_cast<int64_t>(torch::cuda::device_count())) {
    return UnavailableError("device '" + text + "' does not exist: " +
                            std::to_string(torch::cuda::device_count()) + " CUDA devices");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

#if defined(MODELGRID_TORCH_CUDA)
// LibTorch creates a device's caching allocator when CUDA is first used there (lazily since
// 2.x): its statistics and memory fraction exist only after that.
Status InitCudaDevice(const c10::Device& device) {
  return CatchAll("initialising " + device.str(), [&] {
    (void)torch::empty({1}, torch::TensorOptions().device(device));
    return Status::Ok();
  });
}

uint64_t CudaAllocatedBytes(const c10::Device& device) {
  try {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<uint64_t>(stats.allocated_bytes[0].current);
  } catch (const std::exception&) {
    return 0;
  }
}
#endif

// Needs InitCudaDevice(device) first.
Status ApplyCudaMemoryLimit(const c10::Device& device, uint64_t limit_bytes) {
  if (!device.is_cuda() || limit_bytes == 0) return Status::Ok();
#if defined(MODELGRID_TORCH_CUDA)
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device.index()) != cudaSuccess) {
    return Internal("cannot read the properties of " + device.str());
  }
  const double fraction =
      std::min(1.0, static_cast<double>(limit_bytes) / static_cast<double>(prop.totalGlobalMem));
  c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, device.index());
  return Status::Ok();
#else
  return Unsupported("memory_limit_bytes on " + device.str() +
                     " needs a build with MODELGRID_TORCH_CUDA");
#endif
}

Result<std::unique_ptr<ModelInstance>> LoadUnguarded(const ModelInstanceConfig& config) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config.path, ec)) {
    return NotFound("model file " + config.path + " does not exist");
  }
  MG_ASSIGN_OR_RETURN(c10::Device device, ParseDevice(config.device));
  for (const auto* specs : {&config.inputs, &config.outputs}) {
    for (const IoSpec& spec : *specs) {
      if (!TakesDType(spec.dtype)) {
        return InvalidArgument(config.path + ": tensor '" + spec.name + "' is " +
                               std::string(TensorDTypeName(spec.dtype)) +
                               ", which TorchScript models do not take");
      }
    }
  }
  uint64_t cuda_before = 0;
#if defined(MODELGRID_TORCH_CUDA)
  if (device.is_cuda()) {
    MG_RETURN_IF_ERROR(InitCudaDevice(device));
    cuda_before = CudaAllocatedBytes(device);
  }
#endif
  MG_RETURN_IF_ERROR(ApplyCudaMemoryLimit(device, config.memory_limit_bytes));
  const uint64_t rss_before = ReadRssBytes();
  torch::jit::Module module;
  try {
    module = torch::jit::load(config.path, device);
    module.eval();
  } catch (const c10::Error& e) {
    return InvalidArgument("cannot load TorchScript module " + config.path + ": " +
                           ErrorSummary(e.what_without_backtrace()));
  }
  const uint64_t weights = WeightsBytes(module);
  if (device.is_cpu() && config.memory_limit_bytes > 0 && weights > config.memory_limit_bytes) {
    return ResourceExhausted(config.path + ": weights take " + std::to_string(weights) +
                             " bytes, above memory_limit_bytes " +
                             std::to_string(config.memory_limit_bytes));
  }
  auto forward = module.find_method("forward");
  if (!forward) return InvalidArgument(config.path + " has no forward method");
  LoadFacts facts{{}, 0, weights, rss_before, cuda_before};
  const auto& args = forward->function().getSchema().arguments();
  for (size_t i = 1; i < args.size(); ++i) {  // 0 is self
    facts.arg_names.push_back(args[i].name());
    if (!args[i].default_value()) facts.required_args = facts.arg_names.size();
  }
  auto instance =
      std::make_unique<TorchInstance>(config, std::move(module), device, std::move(facts));
  MG_RETURN_IF_ERROR(instance->CheckSignature());
  return std::unique_ptr<ModelInstance>(std::move(instance));
}

}  // namespace

Result<std::unique_ptr<ModelInstance>> TorchBackend::Load(const ModelInstanceConfig& config) {
  return CatchAll("loading " + config.path, [&] { return LoadUnguarded(config); });
}

bool TorchCudaAvailable() { return torch::cuda::is_available(); }  // never throws

bool TorchCudaStatsCompiledIn() { return kCudaCompiledIn; }

std::unique_ptr<Backend> CreateTorchBackend() { return std::make_unique<TorchBackend>(); }

}  // namespace modelgrid
