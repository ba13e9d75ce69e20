#include "gpu/nvml_api.h"

#include <dlfcn.h>

namespace modelgrid::nvml {

namespace {

template <typename Fn>
void Resolve(void* handle, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(::dlsym(handle, name));
}

}  // namespace

Result<std::unique_ptr<NvmlApi>> NvmlApi::Open() {
  void* handle = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    return Status(StatusCode::kUnavailable,
                  "no NVIDIA driver found (cannot load libnvidia-ml.so.1)");
  }
  std::unique_ptr<NvmlApi> api(new NvmlApi());
  api->handle_ = handle;
  Return (*init)() = nullptr;
  Resolve(handle, "nvmlInit_v2", &init);
  Resolve(handle, "nvmlShutdown", &api->shutdown_);
  Resolve(handle, "nvmlDeviceGetCount_v2", &api->device_get_count);
  Resolve(handle, "nvmlDeviceGetHandleByIndex_v2", &api->device_get_handle_by_index);
  Resolve(handle, "nvmlDeviceGetName", &api->device_get_name);
  Resolve(handle, "nvmlDeviceGetMemoryInfo", &api->device_get_memory_info);
  Resolve(handle, "nvmlDeviceGetUtilizationRates", &api->device_get_utilization_rates);
  Resolve(handle, "nvmlDeviceGetUUID", &api->device_get_uuid);
  // Newest first; the unsuffixed symbol keeps the v1 entry layout for old binaries.
  struct Candidate {
    const char* symbol;
    size_t entry_bytes;
  };
  for (const Candidate& c :
       {Candidate{"nvmlDeviceGetComputeRunningProcesses_v3", sizeof(ProcessInfoV2)},
        Candidate{"nvmlDeviceGetComputeRunningProcesses_v2", sizeof(ProcessInfoV2)},
        Candidate{"nvmlDeviceGetComputeRunningProcesses", sizeof(ProcessInfoV1)}}) {
    Resolve(handle, c.symbol, &api->device_get_compute_running_processes);
    if (api->device_get_compute_running_processes) {
      api->processes_entry_bytes = c.entry_bytes;
      break;
    }
  }
  if (!init || !api->shutdown_ || !api->device_get_count || !api->device_get_handle_by_index ||
      !api->device_get_name || !api->device_get_memory_info) {
    api->shutdown_ = nullptr;  // never initialised: the destructor only closes the library
    return Status(StatusCode::kUnavailable,
                  "libnvidia-ml.so.1 lacks the NVML functions ModelGrid needs (driver too old?)");
  }
  if (init() != kSuccess) {
    api->shutdown_ = nullptr;
    return Status(StatusCode::kUnavailable,
                  "NVML failed to initialise (is the NVIDIA driver loaded?)");
  }
  return api;
}

NvmlApi::~NvmlApi() {
  if (shutdown_) shutdown_();
  if (handle_) ::dlclose(handle_);
}

}  // namespace modelgrid::nvml
