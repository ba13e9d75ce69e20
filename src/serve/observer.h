// Observer: what the core reports, built from typed snapshots. A sampler thread measures the
// devices (NVML on a real GPU, /proc/meminfo on the host), each worker's memory (NVML per
// process, or the RSS of its process tree) and the host's CPU load every kObserveInterval;
// /metrics and /v2/modelgrid/status render the latest reading with the registry's state,
// so an HTTP thread never queries NVML, walks /proc or lists the repository. The control
// thread measures afresh when it needs to (admission, freed memory) and that reading is
// published too.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "gpu/device_usage.h"
#include "serve/admission.h"
#include "serve/grid_types.h"
#include "serve/registry.h"
#include "serve/worker_pool.h"

namespace modelgrid {

// One measurement of the devices and workers.
struct Observation {
  uint64_t taken_ms = 0;                      // ipc::MonotonicNowMs()
  std::optional<std::vector<GpuUsage>> gpus;  // only when a device is a real GPU
  std::optional<HostMemory> host;
  std::map<std::string, uint64_t> worker_bytes;  // by process key, where measured
  double cpu_utilization = 0;                    // since the previous sampler reading
};

// The state of the whole grid at one moment, for rendering.
struct GridSnapshot {
  struct ModelView {
    std::shared_ptr<const Model> model;
    ModelState state = ModelState::kLoading;
    InferStats stats;
    std::string last_error;
    std::vector<std::pair<std::string, int>> instances;  // (worker, device index)
    bool tiered = false;                                 // the host-memory tier may park it
    Tier tier = Tier::kResident;
  };
  struct WorkerView {
    std::string name;
    int device = 0;
    pid_t pid = -1;
    bool isolated = false;
    int execution_threads = 1;
    bool up = false;
    uint32_t restarts = 0;
    uint64_t budget_bytes = 0;
    std::optional<uint64_t> memory_bytes;
    std::vector<std::string> models;
  };
  std::vector<ModelView> models;
  std::vector<WorkerView> workers;
  std::vector<DeviceState> devices;             // with measured free memory
  std::vector<std::string> custom_metrics;      // per worker: Backend::CustomMetrics JSON
  std::map<std::string, std::string> unplaced;  // model -> why not served
  Observation observation;
  uint64_t worker_restarts = 0;
  bool ready = false;
  uint64_t host_cache_bytes = 0;  // --host-cache (0: off)
};

class Observer {
 public:
  // Borrows all three, which outlive it. Takes a first reading.
  Observer(const GridContext& grid, const Registry& registry, const WorkerPool& pool);
  ~Observer();  // stops the sampler

  // Starts the sampler thread (once).
  void Start();
  // Measures now (blocking: NVML, /proc), publishes the reading and returns it.
  Observation Measure() EXCLUDES(mu_, measure_mu_);
  // The latest reading, without measuring.
  Observation Latest() const EXCLUDES(mu_);

  // Admission's view of the devices: planned from the registry (`tiered_parked` as there),
  // measured from `reading`.
  std::vector<DeviceState> DeviceStates(const Observation& reading,
                                        bool tiered_parked = false) const;
  // A worker's measured memory in `reading`, when known.
  static std::optional<uint64_t> WorkerBytes(const Worker& worker, const Observation& reading);

  // The grid now, with the latest reading; `ready` is the server's readiness.
  GridSnapshot Snapshot(bool ready) const;

 private:
  std::optional<uint64_t> MeasuredFreeBytes(const Device& d, const Observation& reading) const;
  void Sample();
  // Asks each up worker that hosts a Python model for its models' custom metrics
  // (ipc::Op::kMetrics); the answers arrive in custom_metrics_ (by worker name), and the
  // reports of workers that no longer host one are dropped.
  void RequestCustomMetrics();

  // Worker name -> its last custom metrics report. Shared with the calls in flight, which
  // may answer after the Observer is gone.
  struct CustomMetricsStore {
    Mutex mu;
    std::map<std::string, std::string> reports GUARDED_BY(mu);
  };
  const std::shared_ptr<CustomMetricsStore> custom_metrics_ =
      std::make_shared<CustomMetricsStore>();

  const GridContext& grid_;
  const Registry& registry_;
  const WorkerPool& pool_;
  Mutex measure_mu_ ACQUIRED_BEFORE(mu_);  // one measurement at a time (NVML is not re-entrant)
  CpuUtilization cpu_ GUARDED_BY(measure_mu_);
  mutable Mutex mu_;
  Observation latest_ GUARDED_BY(mu_);
  CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread sampler_;
};

// Bytes the snapshot's parked models hold in the host cache.
uint64_t ParkedBytes(const GridSnapshot& s);

// Prometheus text: Triton's nv_* families where they apply, modelgrid_* for the rest.
std::string RenderMetrics(const GridSnapshot& s, const std::vector<Device>& devices);
// /v2/modelgrid/status.
nlohmann::json RenderStatus(const GridSnapshot& s, const GridContext& grid);

}  // namespace modelgrid
