// Internal to mg_gpu: NVML loaded at run time with dlopen, so the build needs no CUDA.
//
//   MG_ASSIGN_OR_RETURN(std::unique_ptr<NvmlApi> nvml, NvmlApi::Open());
//   unsigned int count = 0;
//   if (nvml->device_get_count(&count) == kNvmlSuccess) ...
//   // nvmlShutdown and dlclose run when `nvml` is destroyed.
//
// Declarations mirror the stable NVML ABI (nvml.h is not needed at build time).
#pragma once

#include <memory>

#include "common/status.h"

namespace modelgrid::nvml {

using Return = int;
using Device = struct nvmlDevice_st*;

constexpr Return kSuccess = 0;
constexpr Return kErrorInsufficientSize = 7;  // NVML_ERROR_INSUFFICIENT_SIZE
// NVML_VALUE_NOT_AVAILABLE: usedGpuMemory of a process NVML cannot account (e.g. Windows
// WDDM, or a process in another container).
constexpr unsigned long long kValueNotAvailable = ~0ull;
// NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE.
constexpr unsigned int kNameBufferSize = 96;
constexpr unsigned int kUuidBufferSize = 96;

struct Memory {  // nvmlMemory_t (v1)
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

struct Utilization {    // nvmlUtilization_t
  unsigned int gpu;     // percent of the last sample period a kernel was running
  unsigned int memory;  // percent of the period device memory was read or written
};

// nvmlProcessInfo_v1_t: the entry of the unsuffixed nvmlDeviceGetComputeRunningProcesses.
struct ProcessInfoV1 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
};

// nvmlProcessInfo_v2_t, which is also nvmlProcessInfo_t: the entry of the _v2 and _v3
// functions (the _v3 function changed semantics for MIG, not the layout).
struct ProcessInfoV2 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};

// Owns a dlopen handle of libnvidia-ml.so.1 and an nvmlInit_v2 reference. Function
// pointers marked optional may be null (older drivers); the others are non-null.
// Not thread-safe; NVML itself tolerates several Init/Shutdown pairs in one process.
class NvmlApi {
 public:
  // Loads the library, resolves the functions and initialises NVML. kUnavailable, with a
  // sentence fit for users, when the library is missing, lacks required functions or
  // fails to initialise.
  static Result<std::unique_ptr<NvmlApi>> Open();
  ~NvmlApi();  // nvmlShutdown, then dlclose
  NvmlApi(const NvmlApi&) = delete;
  NvmlApi& operator=(const NvmlApi&) = delete;

  Return (*device_get_count)(unsigned int*) = nullptr;
  Return (*device_get_handle_by_index)(unsigned int, Device*) = nullptr;
  Return (*device_get_name)(Device, char*, unsigned int) = nullptr;
  Return (*device_get_memory_info)(Device, Memory*) = nullptr;
  Return (*device_get_utilization_rates)(Device, Utilization*) = nullptr;  // optional
  Return (*device_get_uuid)(Device, char*, unsigned int) = nullptr;        // optional
  // Optional. `processes_entry_bytes` is sizeof(ProcessInfoV2) when the _v3 or _v2 symbol
  // was found, sizeof(ProcessInfoV1) for the unsuffixed one; the array argument points to
  // entries of that size.
  Return (*device_get_compute_running_processes)(Device, unsigned int*, void*) = nullptr;
  size_t processes_entry_bytes = 0;

 private:
  NvmlApi() = default;
  void* handle_ = nullptr;
  Return (*shutdown_)() = nullptr;
};

}  // namespace modelgrid::nvml
