// What `modelgrid serve` asks of the serving core: the repository, the devices, the model
// control mode and the limits. Plain values; every default is the CLI's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ipc/shm_segment.h"
#include "serve/host_policy.h"

namespace modelgrid {

// Triton's model control modes: `none` loads every model at start; `explicit` loads those
// named in ServeOptions::load_models and then what the repository API asks for; `poll`
// loads every model and then follows the repository's folders as they change.
enum class ModelControlMode { kNone, kExplicit, kPoll };
Result<ModelControlMode> ParseModelControlMode(std::string_view name);
const char* ModelControlModeName(ModelControlMode mode);

struct ServeOptions {
  std::string repository;
  // "cpu" (the host), "cpu:SPEC" (virtual devices of SPEC's sizes, run on the host: for
  // tests and dry runs), "auto" (NVML) or a GPU spec such as 2xH100-80GB.
  std::string gpus = "cpu";
  std::string strategy = "memory-optimized";
  std::string worker_executable;         // modelgrid-worker (run as `modelgrid-worker serve`)
  std::vector<std::string> worker_args;  // extra arguments for `modelgrid-worker serve`
  // The HTTP server's event loops (--http-threads): each worker gets one reply doorbell
  // per loop, so a reply wakes the loop that sent its request.
  size_t event_loops = 1;
  std::string footprint_store_path;      // measured peaks; "" keeps them in memory
  uint32_t heartbeat_timeout_ms = 5000;  // a worker silent this long is killed
  ModelControlMode model_control = ModelControlMode::kNone;
  std::vector<std::string> load_models;  // explicit mode: loaded at start ("*" = all)
  uint32_t poll_interval_ms = 15'000;    // poll mode: how often the repository is read
  // After an unload, re-plan when Fragmentation() reaches this (0 disables).
  double replan_fragmentation = 0;
  ipc::ShmOptions shm;  // per worker segment
  // KServe ModelMesh's runtime SPI (ModelGrid::RuntimeStatus and the rest): models are
  // loaded from the paths ModelMesh names, staged in a private folder. Needs kExplicit.
  bool modelmesh = false;
  // The host-memory tier (serve/tier_manager.h): bytes of host memory that parked models
  // may hold (0: off), and how long a request for a parked model waits for its swap-in.
  uint64_t host_cache_bytes = 0;
  uint32_t host_cache_wait_ms = 10'000;
  // Triton's --host-policy, by name (serve/host_policy.h): the cores and NUMA node of each
  // device's workers. None: workers run wherever the scheduler puts them.
  std::map<std::string, HostPolicy> host_policies;
};

}  // namespace modelgrid
