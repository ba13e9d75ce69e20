// Admission: where a model loaded at run time goes, against the live state of the devices.
//
// Pure functions over plain data, so they are testable without workers. A device's free
// memory is its capacity minus what is planned there (the workers' peaks: contexts, model
// footprints, where a shared worker counts its models' transient bytes once, at their
// largest), further limited by what was measured free (NVML, or the host's available
// memory) when a measurement exists.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "plan/plan_types.h"

namespace modelgrid {

struct DeviceState {
  int index = 0;
  std::string label;            // "cpu", "cpu1", "gpu0": for messages
  uint64_t capacity_bytes = 0;  // what the plan may use
  // Contexts + process footprints + shared models' resident bytes + shared_transient_bytes.
  uint64_t planned_bytes = 0;
  std::optional<uint64_t> measured_free_bytes;  // free now, when measured
  uint64_t context_bytes = 0;                   // cost of one more worker process here
  bool has_shared_worker = false;               // a shared model joins it at no context cost
  // The largest transient_bytes among the models of the shared worker here (0 without one):
  // a shared model adds only what its own transient exceeds this by.
  uint64_t shared_transient_bytes = 0;
};

// "N MiB", rounded up: how admission's messages state sizes.
std::string MiBText(uint64_t bytes);

// Bytes a new placement may use on `d`.
uint64_t FreeBytes(const DeviceState& d);

struct AdmissionRequest {
  std::string model;
  uint64_t footprint_bytes = 0;
  // The part of footprint_bytes (<= it) a shared worker reuses between its models
  // (ModelRequest::transient_bytes); 0: all resident.
  uint64_t transient_bytes = 0;
  Isolation isolation = Isolation::kShared;
  Strategy strategy = Strategy::kMemoryOptimized;
  std::optional<int> device;  // only this device (moves, explicit requests)
};

struct Admission {
  int device = 0;           // DeviceState::index
  bool new_worker = false;  // a worker process (and a context) starts for it
  // What planned_bytes grows by: the footprint plus a context for a process worker; for a
  // shared one the resident part (footprint - transient) plus what the transient exceeds
  // the device's shared_transient_bytes by, plus a context when new_worker.
  uint64_t cost_bytes = 0;
};

// Chooses a device: fill-first takes the first that fits, balance-load and
// latency-sensitive the one with the most free memory, the others the tightest fit.
// kResourceExhausted when none fits, with a message that says how much is missing and
// where; kInvalidArgument for a forced device that does not exist.
Result<Admission> Admit(const AdmissionRequest& request, const std::vector<DeviceState>& devices);

// 1 - (largest free block / total free) over the devices: 0 when free memory is all in one
// place (or there is none), towards 1 when it is scattered in small pieces.
double Fragmentation(const std::vector<DeviceState>& devices);

}  // namespace modelgrid
