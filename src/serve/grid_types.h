// The serving core's shared vocabulary: devices, models, their placements and the workers
// that host them, and the context every part of the core reads. See docs/ARCHITECTURE.md.
//
// Ownership: the Registry (serve/registry.h) holds models and workers by shared_ptr; a
// request holds tickets (serve/in_flight.h) of the model and of the placement it was sent
// to. Which worker hosts which model (Worker's slots, Model's placements) is guarded by the
// Registry's lock; the accessors name that lock, so clang checks that it is held.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "plan/plan_types.h"
#include "serve/dynamic_batcher.h"
#include "serve/footprint_store.h"
#include "serve/host_policy.h"
#include "serve/in_flight.h"
#include "serve/model_repository.h"
#include "serve/model_state.h"
#include "serve/serve_options.h"
#include "serve/worker_channel.h"
#include "serve/worker_protocol.h"
#include "server/inference_service.h"

namespace modelgrid {

struct Device {
  int index = 0;
  std::string label;    // "cpu", "cpu0", "gpu0": names workers and metrics
  std::string runtime;  // "cpu" or "cuda:N": what workers run on
  std::string name;     // catalog or NVML name ("cpu" for the host)
  uint64_t capacity_bytes = 0;
  uint64_t context_bytes = 0;  // per worker process (kHostWorkerContextBytes on the host)
  bool host = true;
  bool nvml = false;         // a real GPU: NVML measures its free memory
  HostBinding host_binding;  // where on the host its workers run (--host-policy)
};

// What every part of the core reads. Constant once Start() returns, but `stopping`.
struct GridContext {
  ServeOptions options;
  std::function<void(const std::string&)> log;
  std::vector<Device> devices;  // indexed by Device::index
  Strategy strategy = Strategy::kMemoryOptimized;
  std::unique_ptr<FootprintStore> store;  // measured peaks (thread-safe)
  uint64_t started_ms = 0;                // ipc::MonotonicNowMs() at Start
  std::atomic<bool> stopping{false};      // shutdown began: nothing new starts

  const Device& device(int index) const { return devices[static_cast<size_t>(index)]; }
};

// Triton's per-model statistics, cumulative.
struct InferStats {
  uint64_t success = 0, failure = 0, success_ns = 0, failure_ns = 0;
  uint64_t inferences = 0;  // samples (batch elements)
  uint64_t executions = 0;  // model executions (a dynamic batch is one)
  uint64_t queue_ns = 0;    // time in the dynamic batcher's queue
  uint64_t compute_ns = 0;  // worker round trips of successful executions
  uint64_t last_inference_ms = 0;
  // The host-memory tier: swaps in (copied or loaded onto the device) and out (parked),
  // and the swap-ins' durations in kSwapInBucketsMs buckets (cumulative at render).
  uint64_t swap_ins = 0, swap_outs = 0, swap_in_ns = 0;
  std::array<uint64_t, 8> swap_in_buckets{};
};
// Upper bounds (ms) of the swap-in duration histogram's buckets; a last, +Inf, is implied.
inline constexpr std::array<double, 8> kSwapInBucketsMs{1, 5, 10, 25, 50, 100, 250, 1000};

// One request on its way to a worker, alone or in a dynamic batch.
struct PendingInfer {
  server::InferRequest request;
  int64_t batch = 1;  // samples (dimension 0 of the inputs when the model batches)
  uint64_t started_ns = 0;
  std::function<void(Result<server::InferResponse>)> done;
  InFlight::Ticket ticket;  // the model's, held until this request is done with
  // A decoupled model's request (RequestPath::InferStream): every response goes here
  // instead of `done`, in order, the last with final set (nullopt: the model ended
  // without a response).
  std::function<void(std::optional<Result<server::InferResponse>>, bool final)> stream;
};

// Where a model's weights are, when the host-memory tier (serve/tier_manager.h) manages it:
// on its device (kResident), on their way to host memory (kParking) or back (kUnparking),
// in host memory with the model object kept in its worker (kParked), or not in the worker
// at all (kCold: before its first swap-in, or after its worker restarted). kResident,
// kParking and kUnparking count on the device; kParked counts in the host cache.
enum class Tier : uint8_t { kResident, kParking, kParked, kUnparking, kCold };
const char* TierName(Tier tier);  // "resident", "parking", "parked", "unparking", "cold"
inline bool OnDevice(Tier t) {
  return t == Tier::kResident || t == Tier::kParking || t == Tier::kUnparking;
}

struct Model;

// One worker process (or fake) and the model instances it hosts, by slot.
class Worker {
 public:
  using Slots = std::map<uint32_t, std::shared_ptr<Model>>;
  Worker(std::string name, std::string process, int device, bool isolated, int execution_threads,
         std::unique_ptr<WorkerChannel> channel)
      : name(std::move(name)),
        process(std::move(process)),
        device(device),
        isolated(isolated),
        execution_threads(execution_threads),
        channel(std::move(channel)) {}

  const std::string name;     // shown in logs, status and metrics; reused after it stops
  const std::string process;  // its launcher key, "name#N": never reused
  const int device;           // Device::index
  const bool isolated;        // a worker of one model's own
  const int execution_threads;
  const std::unique_ptr<WorkerChannel> channel;

  // Its slots; the Registry's lock guards them.
  const Slots& slots([[maybe_unused]] const SharedMutex& registry) const REQUIRES_SHARED(registry) {
    return slots_;
  }
  Slots& mutable_slots([[maybe_unused]] SharedMutex& registry) REQUIRES(registry) { return slots_; }
  bool up() const { return channel->up(); }

 private:
  Slots slots_;
};

// Where a model's instance runs. Requests hold a ticket of the placement they were sent to
// (taken under the Registry's lock with the route), so a move waits for exactly those.
struct Placement {
  Placement(std::shared_ptr<Worker> worker, uint32_t slot)
      : worker(std::move(worker)), slot(slot) {}
  const std::shared_ptr<Worker> worker;
  const uint32_t slot;
  InFlight requests;
};
using Placements = std::vector<std::shared_ptr<Placement>>;

// A served model. Constant after ReadModel (serve/model_reader.h) but where noted.
struct Model {
  ServedModel served;
  ModelInstanceConfig instance;  // what a worker loads (its device set per worker)
  // The files a load request sent, when it was loaded from them (kept while it is served).
  std::shared_ptr<const void> files;
  // Class labels of the outputs that name a label_filename, one per class index.
  std::map<std::string, std::vector<std::string>> labels;
  bool latency_sensitive = false;
  uint64_t estimated_bytes = 0;  // the estimator's footprint (without a context)
  uint64_t planned_bytes = 0;    // footprint the plan used
  // Of planned_bytes, what a shared worker reuses between its models (activations,
  // workspaces): its models add their resident parts and the largest transient part.
  uint64_t transient_bytes = 0;
  bool planned_from_measurement = false;
  std::string digest;
  std::string signature;  // RepositorySignature() when read: poll mode's change test
  // Devices wanted (parameters.replicas), each running instances_per_device instances
  // (the instance_group counts) side by side in one slot of a worker of the model's own.
  // planned_bytes and transient_bytes cover all the instances of one device.
  int instances = 1;
  int instances_per_device = 1;
  // Isolation of its next placement; changed by moves (control thread only).
  Isolation isolation = Isolation::kShared;
  // Managed by the host-memory tier (serve/tier_manager.h): set before it is routed, when
  // it may be parked. Its tier changes only under the TierManager's lock; its last use
  // orders least-recently-used eviction (the TierManager's use count when a request last
  // went to it, or it last swapped in).
  bool tiered = false;
  std::atomic<Tier> tier{Tier::kResident};
  std::atomic<uint64_t> last_use{0};

  ModelStateMachine state;  // changes only through Transition (serve/model_state.h)
  // Requests accepted and not yet answered (queued, in flight) hold its tickets; an
  // unload closes it and waits for the last one.
  InFlight requests;
  std::atomic<uint64_t> measured_peak_bytes{0};
  // The largest output bytes per batch sample seen so far: sizes response regions of
  // models whose outputs have variable dimensions (0 until the first reply).
  std::atomic<uint64_t> output_bytes_per_sample{0};
  // Set before the model first becomes READY when its config asks for dynamic_batching.
  std::unique_ptr<DynamicBatcher<PendingInfer>> batcher;

  // Where it runs, one placement per device; empty until placed. The Registry's lock
  // guards them.
  const Placements& placements([[maybe_unused]] const SharedMutex& registry) const
      REQUIRES_SHARED(registry) {
    return placements_;
  }
  Placements& mutable_placements([[maybe_unused]] SharedMutex& registry) REQUIRES(registry) {
    return placements_;
  }

  // A consistent copy of the statistics, and of the last failure into `*last_failure`.
  InferStats StatsSnapshot(std::string* last_failure) const EXCLUDES(stats_mu);
  // Adds to the statistics under their lock.
  template <typename F>
  void UpdateStats(F f) EXCLUDES(stats_mu) {
    MutexLock lock(&stats_mu);
    f(stats);
  }
  void SetFailure(std::string why) EXCLUDES(stats_mu);
  std::string failure() const EXCLUDES(stats_mu);

 private:
  Placements placements_;
  mutable Mutex stats_mu;
  std::string failure_ GUARDED_BY(stats_mu);
  InferStats stats GUARDED_BY(stats_mu);
};

// What a parked model holds in host memory: its weights and buffers, the resident part
// of its footprint (planned_bytes - transient_bytes).
inline uint64_t ResidentPart(const Model& m) {
  return m.planned_bytes - std::min(m.transient_bytes, m.planned_bytes);
}

// The instance a request goes to: the least busy one whose worker is up, else the first
// (whose call then fails fast); null when the model is not placed.
std::shared_ptr<Placement> Route(const Placements& placements);
// True when one of `placements` is in a worker other than `except` that is up.
bool OtherInstanceUp(const Placements& placements, const Worker* except);
// What a worker's models need together (without its context): each one's resident part,
// plus the largest transient part when the worker is shared (plan/worker_budget.h). A
// model whose tier is not on the device counts nothing, unless it is `with`.
uint64_t WorkerBudget(const Worker& worker, const Worker::Slots& slots,
                      const Model* with = nullptr);
// The one key under which `m`'s measured peak on device `device_name` is stored and found.
FootprintKey FootprintKeyFor(const Model& m, const std::string& device_name);

}  // namespace modelgrid
