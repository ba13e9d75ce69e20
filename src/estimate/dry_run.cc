#include "estimate/dry_run.h"

#include <utility>

namespace modelgrid {
namespace {

using nlohmann::json;

// No single allocation of a forward pass is a PiB; larger numbers are garbage.
constexpr uint64_t kMaxEventBytes = uint64_t{1} << 50;

DryRunner& Installed() {
  static DryRunner runner;
  return runner;
}

// Reads field `key` of `j` into `*out` when present; kInvalidArgument on a wrong type.
template <typename T>
Status Read(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return InvalidArgument(std::string("dry run: field \"") + key + "\" has the wrong type");
  }
  return Status::Ok();
}

}  // namespace

void SetDryRunner(DryRunner runner) { Installed() = std::move(runner); }

Result<DryRunResult> RunDryRun(const DryRunOptions& options) {
  const DryRunner& runner = Installed();
  if (!runner) {
    return Unsupported(options.path +
                       ": TorchScript activations need a dry run, and this program has no "
                       "dry runner (modelgrid-worker, built with LibTorch)");
  }
  return runner(options);
}

json DryRunOptionsToJson(const DryRunOptions& o) {
  return {{"path", o.path},
          {"batch", o.batch},
          {"input_shapes", o.input_shapes},
          {"input_dtypes", o.input_dtypes},
          {"activation_bytes", o.activation_bytes},
          {"disable_mkldnn", o.disable_mkldnn},
          {"extrapolate", o.extrapolate}};
}

Result<DryRunOptions> DryRunOptionsFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("dry run: the request must be a JSON object");
  DryRunOptions o;
  MG_RETURN_IF_ERROR(Read(j, "path", &o.path));
  MG_RETURN_IF_ERROR(Read(j, "batch", &o.batch));
  MG_RETURN_IF_ERROR(Read(j, "input_shapes", &o.input_shapes));
  MG_RETURN_IF_ERROR(Read(j, "input_dtypes", &o.input_dtypes));
  MG_RETURN_IF_ERROR(Read(j, "activation_bytes", &o.activation_bytes));
  MG_RETURN_IF_ERROR(Read(j, "disable_mkldnn", &o.disable_mkldnn));
  MG_RETURN_IF_ERROR(Read(j, "extrapolate", &o.extrapolate));
  if (o.path.empty()) return InvalidArgument("dry run: no model path");
  if (o.batch < 1) return InvalidArgument("dry run: batch must be at least 1");
  return o;
}

json DryRunResultToJson(const DryRunResult& r) {
  // The trace as one array: an allocation is its byte count, the free of allocation `id`
  // is -(id + 1). Allocation ids are their order, so replaying rebuilds the same trace.
  json trace = json::array();
  for (const AllocEvent& e : r.trace.events()) {
    if (e.kind == AllocEvent::Kind::kAlloc) {
      trace.push_back(e.bytes);
    } else {
      trace.push_back(-static_cast<int64_t>(e.id) - 1);
    }
  }
  return {
      {"trace", std::move(trace)},      {"conv_count", r.conv_count},
      {"matmul_count", r.matmul_count}, {"largest_conv_output_bytes", r.largest_conv_output_bytes},
      {"extrapolated", r.extrapolated}, {"input_bytes", r.input_bytes},
      {"assumptions", r.assumptions}};
}

Result<DryRunResult> DryRunResultFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("dry run: the result must be a JSON object");
  DryRunResult r;
  MG_RETURN_IF_ERROR(Read(j, "conv_count", &r.conv_count));
  MG_RETURN_IF_ERROR(Read(j, "matmul_count", &r.matmul_count));
  MG_RETURN_IF_ERROR(Read(j, "largest_conv_output_bytes", &r.largest_conv_output_bytes));
  MG_RETURN_IF_ERROR(Read(j, "extrapolated", &r.extrapolated));
  MG_RETURN_IF_ERROR(Read(j, "input_bytes", &r.input_bytes));
  if (r.input_bytes > kMaxEventBytes) return InvalidArgument("dry run: the inputs are too large");
  MG_RETURN_IF_ERROR(Read(j, "assumptions", &r.assumptions));
  auto trace = j.find("trace");
  if (trace == j.end() || !trace->is_array()) {
    return InvalidArgument("dry run: the result has no trace");
  }
  uint32_t allocated = 0;
  for (const json& e : *trace) {
    if (e.is_number_unsigned()) {
      const uint64_t bytes = e.get<uint64_t>();
      if (bytes > kMaxEventBytes) return InvalidArgument("dry run: an allocation is too large");
      r.trace.Alloc(bytes);
      ++allocated;
    } else if (e.is_number_integer() && e.get<int64_t>() < 0 &&
               -(e.get<int64_t>() + 1) < static_cast<int64_t>(allocated)) {
      r.trace.Free(static_cast<uint32_t>(-(e.get<int64_t>() + 1)));
    } else {
      return InvalidArgument("dry run: a trace event is not an allocation or a free of one");
    }
  }
  return r;
}

}  // namespace modelgrid
