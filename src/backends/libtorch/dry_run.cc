// TorchScript dry run: a recording CPU allocator plus forward passes at batches 1 and 2,
// extrapolated to the requested batch. See dry_run.h for the contract.
#include "backends/libtorch/dry_run.h"

#include "backends/libtorch/dry_run_inputs.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/core/CPUAllocator.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace modelgrid {
namespace {

using dry_run_internal::DescribeInputs;
using dry_run_internal::InputSpec;
using dry_run_internal::MakeInputs;

// Batches above this are never run: the trace at this batch is scaled per sample.
constexpr int64_t kMaxDirectBatch = 64;
// Priority for c10::SetCPUAllocator: a later set wins only with an equal or higher
// priority, so both installing and restoring use the highest one.
constexpr uint8_t kAllocatorPriority = 255;

// ---------------------------------------------------------------------------------------
// Recording allocator.
//
// All state is process-wide and never destroyed: a tensor allocated through the wrapper may
// be freed long after the dry run, and its deleter must still find this state.

struct RecordedAlloc {
  uint32_t id;
  uint64_t generation;
  c10::DeleterFnPtr inner_deleter;
};

// Context of an allocation when the wrapped allocator has no raw deleter.
struct WrappedContext {
  c10::DataPtr inner;
  uint32_t id;
  uint64_t generation;
  bool recorded;
};

struct RecorderState {
  std::mutex mu;
  c10::Allocator* inner = nullptr;                // the allocator we forward to
  c10::DeleterFnPtr inner_raw_deleter = nullptr;  // its raw deleter, when it has one
  AllocationTrace* trace = nullptr;               // non-null while recording
  std::thread::id thread;                         // only its allocations are recorded
  uint64_t generation = 0;                        // bumped by every recording
  std::unordered_map<void*, RecordedAlloc> live;  // raw-mode allocations while recording
};

RecorderState& State() {
  static auto* state = new RecorderState;  // leaked on purpose, see above
  return *state;
}

// Logs a free of an allocation made during recording `generation`; other frees are ignored.
// Requires State().mu.
void LogFreeLocked(RecorderState& s, uint32_t id, uint64_t generation) {
  if (s.trace != nullptr && generation == s.generation) s.trace->Free(id);
}

// Raw-mode deleter: ctx == data, as c10::Allocator::raw_allocate requires.
void RawDelete(void* ptr) {
  RecorderState& s = State();
  c10::DeleterFnPtr deleter;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.live.find(ptr);
    if (it == s.live.end()) {
      deleter = s.inner_raw_deleter;
    } else {
      LogFreeLocked(s, it->second.id, it->second.generation);
      deleter = it->second.inner_deleter;
      s.live.erase(it);
    }
  }
  deleter(ptr);
}

void WrappedDelete(void* ctx) {
  auto* wrapped = static_cast<WrappedContext*>(ctx);
  if (wrapped->recorded) {
    RecorderState& s = State();
    std::lock_guard<std::mutex> lock(s.mu);
    LogFreeLocked(s, wrapped->id, wrapped->generation);
  }
  delete wrapped;  // frees through the inner DataPtr's own deleter
}

// LibTorch 2.3 made Allocator::allocate non-const and added the pure virtual copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define MG_ALLOCATOR_API_2_3 1
#define MG_ALLOCATE_CONST
#else
#define MG_ALLOCATE_CONST const
#endif

class RecordingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) MG_ALLOCATE_CONST override {
    RecorderState& s = State();
    c10::DataPtr inner = s.inner->allocate(nbytes);
    std::lock_guard<std::mutex> lock(s.mu);
    const bool record = s.trace != nullptr && nbytes > 0 && inner.get() != nullptr &&
                        std::this_thread::get_id() == s.thread;
    uint32_t id = record ? s.trace->Alloc(nbytes) : 0;
    if (s.inner_raw_deleter != nullptr) {
      // The inner allocator's raw contract guarantees ctx == data and this deleter.
      void* data = inner.release_context();
      if (record) s.live[data] = {id, s.generation, s.inner_raw_deleter};
      return {data, data, &RawDelete, inner.device()};
    }
    void* data = inner.get();
    c10::Device device = inner.device();
    auto* ctx = new WrappedContext{std::move(inner), id, s.generation, record};
    return {data, ctx, &WrappedDelete, device};
  }

  c10::DeleterFnPtr raw_deleter() const override {
    return State().inner_raw_deleter != nullptr ? &RawDelete : nullptr;
  }

#if defined(MG_ALLOCATOR_API_2_3)
  // Host memory, like the CPU allocator it wraps.
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    if (count > 0) std::memcpy(dest, src, count);
  }
#endif
};

RecordingAllocator& Wrapper() {
  static auto* wrapper = new RecordingAllocator;  // leaked: see RecorderState
  return *wrapper;
}

// Installs the recording allocator as LibTorch's CPU allocator for its lifetime. Nothing is
// recorded until Start(). Callers hold DryRunMutex().
class ScopedRecordingAllocator {
 public:
  ScopedRecordingAllocator() : original_(c10::GetCPUAllocator()) {
    RecorderState& s = State();
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.inner = original_;
      s.inner_raw_deleter = original_->raw_deleter();
    }
    c10::SetCPUAllocator(&Wrapper(), kAllocatorPriority);
  }
  ~ScopedRecordingAllocator() {
    Stop();
    c10::SetCPUAllocator(original_, kAllocatorPriority);
  }
  ScopedRecordingAllocator(const ScopedRecordingAllocator&) = delete;
  ScopedRecordingAllocator& operator=(const ScopedRecordingAllocator&) = delete;

  // Records allocations of the calling thread, and frees of those allocations, into
  // `trace` (borrowed until Stop()).
  void Start(AllocationTrace* trace) {
    RecorderState& s = State();
    std::lock_guard<std::mutex> lock(s.mu);
    s.trace = trace;
    s.thread = std::this_thread::get_id();
    ++s.generation;
  }
  void Stop() {
    RecorderState& s = State();
    std::lock_guard<std::mutex> lock(s.mu);
    s.trace = nullptr;
  }

 private:
  c10::Allocator* original_;
};

// Serialises dry runs: they swap process-wide LibTorch settings.
std::mutex& DryRunMutex() {
  static std::mutex mu;
  return mu;
}

// Restores LibTorch's global knobs that the dry run changes.
class ScopedTorchSettings {
 public:
  ScopedTorchSettings(bool disable_mkldnn)
      : threads_(at::get_num_threads()), mkldnn_(at::globalContext().userEnabledMkldnn()) {
    at::set_num_threads(1);
    if (disable_mkldnn) at::globalContext().setUserEnabledMkldnn(false);
  }
  ~ScopedTorchSettings() {
    at::globalContext().setUserEnabledMkldnn(mkldnn_);
    at::set_num_threads(threads_);
  }
  ScopedTorchSettings(const ScopedTorchSettings&) = delete;
  ScopedTorchSettings& operator=(const ScopedTorchSettings&) = delete;

 private:
  int threads_;
  bool mkldnn_;
};

// The most useful line of a LibTorch error: TorchScript puts the cause last.
std::string ErrorSummary(const char* what) {
  std::string text(what);
  size_t end = text.find_last_not_of(" \n\r\t");
  if (end == std::string::npos) return text;
  size_t begin = text.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(begin, end - begin + 1);
}

// ---------------------------------------------------------------------------------------
// Forward passes and traces.

// Runs forward at `batch` with the recorder on. Inputs are allocated before recording; the
// outputs are freed while recording, and anything still live is freed at the end.
Result<AllocationTrace> RecordForward(torch::jit::Module& module,
                                      const std::vector<InputSpec>& specs, int64_t batch,
                                      ScopedRecordingAllocator* recorder) {
  std::vector<c10::IValue> inputs = MakeInputs(specs, batch);
  AllocationTrace trace;
  try {
    if (recorder != nullptr) recorder->Start(&trace);
    { c10::IValue output = module.forward(inputs); }
    if (recorder != nullptr) recorder->Stop();
  } catch (const c10::Error& e) {
    if (recorder != nullptr) recorder->Stop();
    return InvalidArgument("forward rejected inputs " + DescribeInputs(specs, batch) + ": " +
                           ErrorSummary(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    if (recorder != nullptr) recorder->Stop();
    return InvalidArgument("forward rejected inputs " + DescribeInputs(specs, batch) + ": " +
                           ErrorSummary(e.what()));
  }
  trace.FreeAll();
  return trace;
}

// Two traces pair when they make the same allocations and frees in the same order.
bool TracesPair(const AllocationTrace& a, const AllocationTrace& b) {
  const auto& ea = a.events();
  const auto& eb = b.events();
  if (ea.size() != eb.size()) return false;
  for (size_t i = 0; i < ea.size(); ++i) {
    if (ea[i].kind != eb[i].kind || ea[i].id != eb[i].id) return false;
  }
  return true;
}

// Rebuilds `trace` with every allocation size mapped through `size_of(event index, bytes)`.
// Ids are preserved because allocations are replayed in the same order.
template <typename SizeFn>
AllocationTrace MapSizes(const AllocationTrace& trace, SizeFn size_of) {
  AllocationTrace out;
  const auto& events = trace.events();
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == AllocEvent::Kind::kAlloc) {
      out.Alloc(size_of(i, events[i].bytes));
    } else {
      out.Free(events[i].id);
    }
  }
  return out;
}

// size_B = size_n + (size_{n+1} - size_n) * (B - n), at least 0, from traces at batches n
// and n + 1. Requires TracesPair(at_n, at_n1).
AllocationTrace Extrapolate(const AllocationTrace& at_n, const AllocationTrace& at_n1, int64_t n,
                            int64_t batch) {
  const auto& next = at_n1.events();
  return MapSizes(at_n, [&](size_t i, uint64_t bytes) -> uint64_t {
    const auto s0 = static_cast<int64_t>(bytes);
    const auto s1 = static_cast<int64_t>(next[i].bytes);
    return static_cast<uint64_t>(std::max<int64_t>(0, s0 + (s1 - s0) * (batch - n)));
  });
}

uint64_t ScaleBytes(uint64_t bytes, uint64_t num, uint64_t den) {
  return (bytes * num + den - 1) / den;
}

uint64_t RoundUp8(uint64_t bytes) { return (bytes + 7) / 8 * 8; }

// Predicts `batch` (>= 3) from passes at batches 1 and 2, or at 2 and 3 when batch 1 takes
// another code path (ATen's grouped convolutions do). nullopt when neither pair matches.
Result<std::optional<AllocationTrace>> PredictFromSmallBatches(torch::jit::Module& module,
                                                               const std::vector<InputSpec>& specs,
                                                               int64_t batch,
                                                               ScopedRecordingAllocator& recorder,
                                                               DryRunResult& result) {
  MG_ASSIGN_OR_RETURN(AllocationTrace b1, RecordForward(module, specs, 1, &recorder));
  MG_ASSIGN_OR_RETURN(AllocationTrace b2, RecordForward(module, specs, 2, &recorder));
  int64_t n = 1;
  AllocationTrace* lo = &b1;
  AllocationTrace* hi = &b2;
  AllocationTrace b3;
  if (!TracesPair(b1, b2)) {
    MG_ASSIGN_OR_RETURN(b3, RecordForward(module, specs, 3, &recorder));
    if (!TracesPair(b2, b3)) {
      result.assumptions.push_back(
          "traces at batches 1, 2 and 3 differ in structure: ran the forward directly");
      return std::optional<AllocationTrace>();
    }
    n = 2;
    lo = &b2;
    hi = &b3;
  }
  result.extrapolated = true;
  result.assumptions.push_back("batch " + std::to_string(batch) +
                               " extrapolated linearly from forward passes at batches " +
                               std::to_string(n) + " and " + std::to_string(n + 1));
  return std::optional<AllocationTrace>(Extrapolate(*lo, *hi, n, batch));
}

// ---------------------------------------------------------------------------------------
// Graph statistics.

bool IsConv(const std::string& kind) {
  return kind.rfind("aten::conv", 0) == 0 || kind == "aten::_convolution" ||
         kind == "aten::_convolution_mode";
}

bool IsMatmul(const std::string& kind) {
  return kind == "aten::linear" || kind == "aten::addmm" || kind == "aten::matmul" ||
         kind == "aten::mm" || kind == "aten::bmm" || kind == "aten::baddbmm" ||
         kind == "aten::_native_multi_head_attention";
}

void CountNodes(torch::jit::Block* block, DryRunResult& result) {
  for (torch::jit::Node* node : block->nodes()) {
    const std::string kind = node->kind().toQualString();
    if (IsConv(kind)) ++result.conv_count;
    if (IsMatmul(kind)) ++result.matmul_count;
    for (torch::jit::Block* sub : node->blocks()) CountNodes(sub, result);
  }
}

void CountGraphNodes(torch::jit::Module& module, DryRunResult& result) {
  std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  CountNodes(graph->block(), result);
}

// Observes operator outputs on the calling thread and keeps the largest convolution output
// (the allocation inside a convolution that the GPU also makes; the CPU's im2col buffers
// are larger and have no GPU counterpart).
class ScopedConvOutputObserver {
 public:
  ScopedConvOutputObserver() {
    largest_bytes_ = 0;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&OnStart, &OnEnd)
                                             .needsOutputs(true)
                                             .scopes({at::RecordScope::FUNCTION}));
  }
  ~ScopedConvOutputObserver() { at::removeCallback(handle_); }
  ScopedConvOutputObserver(const ScopedConvOutputObserver&) = delete;
  ScopedConvOutputObserver& operator=(const ScopedConvOutputObserver&) = delete;

  uint64_t largest_bytes() const { return largest_bytes_; }

 private:
  static std::unique_ptr<at::ObserverContext> OnStart(const at::RecordFunction&) { return nullptr; }
  static void OnEnd(const at::RecordFunction& fn, at::ObserverContext*) {
    if (!IsConv(fn.name())) return;
    for (const c10::IValue& output : fn.outputs()) {
      if (output.isTensor()) {
        largest_bytes_ = std::max<uint64_t>(largest_bytes_, output.toTensor().nbytes());
      }
    }
  }

  static thread_local uint64_t largest_bytes_;
  at::CallbackHandle handle_;
};

thread_local uint64_t ScopedConvOutputObserver::largest_bytes_ = 0;

// ---------------------------------------------------------------------------------------

// Warm-up outside the recording: one-time initialisation, input validation, and the
// largest convolution output at batch 1 (conv outputs are linear in the batch).
Result<uint64_t> WarmUp(torch::jit::Module& module, const std::vector<InputSpec>& specs) {
  c10::InferenceMode inference_mode;
  ScopedConvOutputObserver observer;
  MG_RETURN_IF_ERROR(RecordForward(module, specs, 1, nullptr).status());
  return observer.largest_bytes();
}

Result<torch::jit::Module> LoadModule(const std::string& path) {
  try {
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    module.eval();
    return module;
  } catch (const c10::Error& e) {
    return InvalidArgument("cannot load TorchScript module " + path + ": " +
                           ErrorSummary(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return InvalidArgument("cannot load TorchScript module " + path + ": " +
                           ErrorSummary(e.what()));
  }
}

// Settles the types the forward runs in and warms up in them. Inputs take their declared
// types, but float16 and bfloat16 weights and inputs run converted to float32: CPU builds
// of LibTorch lack float16 kernels, and their bfloat16 kernels allocate unlike a GPU's
// (oneDNN reorders, float32 temporaries: 12-55% more activation bytes than the float32
// trace on the torchvision fixtures), while a float32 trace scaled to 2-byte elements is
// what the GPU allocates and what calibration.h was fitted on. A module whose forward
// fails converted (one that casts to half itself) is reloaded and runs in its declared
// types. Returns the warm-up's largest convolution output; *float_bytes is the element size
// of the floats the recorded forwards compute in.
Result<uint64_t> WarmUpInRunnableTypes(const std::string& path, torch::jit::Module& module,
                                       std::vector<InputSpec>& specs, DryRunResult& result,
                                       uint32_t* float_bytes) {
  std::optional<c10::ScalarType> module_type = dry_run_internal::ModuleFloatType(module);
  dry_run_internal::ResolveInputTypes(specs, module_type);
  const bool reduced = (module_type && dry_run_internal::IsReducedFloat(*module_type)) ||
                       std::any_of(specs.begin(), specs.end(), [](const InputSpec& s) {
                         return dry_run_internal::IsReducedFloat(s.dtype);
                       });
  if (!reduced) {
    MG_ASSIGN_OR_RETURN(const uint64_t conv_output_bytes, WarmUp(module, specs));
    *float_bytes = dry_run_internal::ComputeElementBytes(module_type, specs);
    return conv_output_bytes;
  }
  const std::string declared = dry_run_internal::DescribeInputs(specs, 1);
  std::vector<InputSpec> converted_specs = specs;
  dry_run_internal::ConvertReducedToFloat(module, converted_specs);
  Result<uint64_t> converted = WarmUp(module, converted_specs);
  if (converted.ok()) {
    specs = std::move(converted_specs);
    *float_bytes = 4;
    result.assumptions.push_back(
        "float16/bfloat16 weights and inputs (declared " + declared +
        ") ran converted to float32: CPU half-precision kernels are missing or allocate "
        "unlike a GPU's; the allocations are scaled to the requested element size");
    return converted;
  }
  MG_ASSIGN_OR_RETURN(module, LoadModule(path));
  Result<uint64_t> native = WarmUp(module, specs);
  if (!native.ok()) {
    return InvalidArgument(native.status().message() + "; converted to float32, " +
                           converted.status().message());
  }
  *float_bytes = dry_run_internal::ComputeElementBytes(module_type, specs);
  result.assumptions.push_back("ran in the declared types (" + declared +
                               ") on the CPU's half-precision kernels: " +
                               "converted to float32, " + converted.status().message());
  return native;
}

Result<DryRunResult> DryRunLocked(const DryRunOptions& options) {
  DryRunResult result;
  MG_ASSIGN_OR_RETURN(std::vector<InputSpec> specs,
                      dry_run_internal::ParseInputs(options, result.assumptions));
  MG_ASSIGN_OR_RETURN(torch::jit::Module module, LoadModule(options.path));
  try {
    CountGraphNodes(module, result);
  } catch (const std::exception& e) {
    result.assumptions.push_back(std::string("graph statistics unavailable: ") +
                                 ErrorSummary(e.what()));
  }

  ScopedTorchSettings settings(options.disable_mkldnn);
  // The plain interpreter: no profiling runs, so every forward allocates the same way.
  torch::jit::GraphOptimizerEnabledGuard no_optimizer(false);
  ScopedRecordingAllocator recorder;
  uint32_t float_bytes = 4;
  MG_ASSIGN_OR_RETURN(const uint64_t conv_output_bytes_b1,
                      WarmUpInRunnableTypes(options.path, module, specs, result, &float_bytes));
  c10::InferenceMode inference_mode;

  const int64_t batch = options.batch;
  AllocationTrace trace;
  bool direct = batch <= 2 || !options.extrapolate;
  if (!direct) {
    MG_ASSIGN_OR_RETURN(std::optional<AllocationTrace> predicted,
                        PredictFromSmallBatches(module, specs, batch, recorder, result));
    if (predicted.has_value()) {
      trace = std::move(*predicted);
    } else {
      direct = true;
    }
  }
  if (direct) {
    const int64_t run_batch = std::min(batch, kMaxDirectBatch);
    MG_ASSIGN_OR_RETURN(trace, RecordForward(module, specs, run_batch, &recorder));
    if (run_batch < batch) {
      const auto num = static_cast<uint64_t>(batch), den = static_cast<uint64_t>(run_batch);
      trace = MapSizes(trace, [&](size_t, uint64_t b) { return ScaleBytes(b, num, den); });
      result.assumptions.push_back("ran the forward at batch " + std::to_string(run_batch) +
                                   " and scaled every allocation by " + std::to_string(batch) +
                                   "/" + std::to_string(run_batch));
    }
  }

  if (options.activation_bytes != float_bytes) {
    const uint64_t num = options.activation_bytes;
    trace = MapSizes(trace,
                     [&](size_t, uint64_t b) { return RoundUp8(ScaleBytes(b, num, float_bytes)); });
    result.assumptions.push_back("the forward computed in " + std::to_string(float_bytes) +
                                 "-byte floats: every allocation scaled by " + std::to_string(num) +
                                 "/" + std::to_string(float_bytes) + " and rounded up to 8 bytes");
  }
  if (conv_output_bytes_b1 > 0) {
    result.largest_conv_output_bytes =
        RoundUp8(ScaleBytes(conv_output_bytes_b1 * static_cast<uint64_t>(batch),
                            options.activation_bytes, float_bytes));
  } else if (result.conv_count > 0) {
    for (const auto& e : trace.events()) {
      result.largest_conv_output_bytes = std::max(result.largest_conv_output_bytes, e.bytes);
    }
    result.assumptions.push_back(
        "convolution outputs not observed: largest_conv_output_bytes is the largest "
        "allocation of the forward");
  }
  if (result.conv_count > 0) {
    result.assumptions.push_back(
        options.disable_mkldnn
            ? "oneDNN disabled: convolutions use ATen's native CPU kernels (im2col buffers)"
            : "convolutions ran with oneDNN's CPU kernels");
  }
  result.input_bytes = dry_run_internal::InputBytes(specs, batch, options.activation_bytes);
  result.trace = std::move(trace);
  return result;
}

}  // namespace

bool TorchDryRunAvailable() { return true; }

Result<DryRunResult> TorchScriptDryRun(const DryRunOptions& options) {
  if (options.batch < 1) {
    return InvalidArgument("dry run: batch must be at least 1, got " +
                           std::to_string(options.batch));
  }
  if (options.activation_bytes == 0 || options.activation_bytes > 8) {
    return InvalidArgument("dry run: activation_bytes must be 1..8, got " +
                           std::to_string(options.activation_bytes));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.path, ec)) {
    return NotFound("TorchScript file not found: " + options.path);
  }
  std::lock_guard<std::mutex> lock(DryRunMutex());
  // What escapes the run is the model's doing (inputs its config makes too large for the
  // memory the run may use, an operator that throws): its estimate fails, as bad input.
  try {
    return DryRunLocked(options);
  } catch (const c10::Error& e) {
    return InvalidArgument("dry run of " + options.path +
                           " failed: " + ErrorSummary(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return InvalidArgument("dry run of " + options.path + " failed: " + ErrorSummary(e.what()));
  }
}

}  // namespace modelgrid
