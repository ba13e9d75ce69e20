// ModelGrid: the serving core behind the HTTP API. Reads a model repository, places the
// models with the planner, runs them in worker processes (shared workers per device,
// own workers for `isolation: process`), restarts workers that die and reloads their
// models, and implements server::InferenceService on top of them.
//
// Model control (Triton's modes): `none` loads every model at start; `explicit` loads
// those named in ServeOptions::load_models and then what the repository API asks for;
// `poll` loads every model and then follows the repository's folders as they change.
// Run-time loads go through admission (serve/admission.h) against the live state; moves
// load on the target, switch traffic, then unload the source, so no request fails.
//
// Thread-safe. Model lifecycle: kLoading -> kReady; a worker exit moves its models to
// kUnavailable (requests in flight fail with 503 at once, new ones get 503) until the
// restarted worker has reloaded them (kReady again); an unload passes kUnloading (new
// requests get 503, those in flight finish) and then the model is gone (404).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "common/mutex.h"
#include "gpu/device_usage.h"
#include "gpu/inventory.h"
#include "ipc/shm_segment.h"
#include "plan/plan_types.h"
#include "serve/admission.h"
#include "serve/dynamic_batcher.h"
#include "serve/footprint_store.h"
#include "serve/in_flight.h"
#include "serve/model_repository.h"
#include "serve/model_state.h"
#include "serve/process_manager.h"
#include "serve/worker_client.h"
#include "server/inference_service.h"

namespace modelgrid {

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
};

class ModelGrid : public server::InferenceService {
 public:
  using Logger = std::function<void(const std::string&)>;

  // Reads, plans and starts the workers; models load in the background (see AllSettled).
  static Result<std::unique_ptr<ModelGrid>> Start(const ServeOptions& options, Logger log);
  ~ModelGrid() override;  // stops the workers

  // True once every placed model is ready or failed; `*ready` and `*total` count them.
  bool AllSettled(int* ready, int* total) const;
  // The placement, one line per worker: device, worker, isolation, models.
  std::string PlacementTable() const;
  // The server is going down: a worker that exits from now on is not restarted (requests
  // still in flight keep being served by the others). Call it before draining; idempotent.
  void BeginShutdown();
  // Stops every worker (SIGUSR1, then SIGKILL after `grace_ms`).
  void Shutdown(uint32_t grace_ms);
  // server::InferenceService
  bool Live() override { return true; }
  bool Ready() override;
  Result<nlohmann::json> ServerMetadata() override;
  Result<nlohmann::json> ModelMetadata(const std::string& model,
                                       const std::string& version) override;
  Result<bool> ModelReady(const std::string& model, const std::string& version) override;
  Result<nlohmann::json> ModelStats(const std::string& model, const std::string& version) override;
  void Infer(server::InferRequest request,
             std::function<void(Result<server::InferResponse>)> done) override;
  // Every worker client, present and future, consumes its replies on `loop`.
  void UseEventLoop(server::EventLoop* loop) override;
  Result<std::string> Metrics() override;
  Result<nlohmann::json> ServerStatus() override;
  Result<nlohmann::json> RepositoryIndex(bool ready_only) override;
  void LoadModel(const std::string& model, const nlohmann::json& request,
                 JsonCallback done) override;
  void UnloadModel(const std::string& model, const nlohmann::json& request,
                   JsonCallback done) override;
  void MoveModel(const std::string& model, const nlohmann::json& request,
                 JsonCallback done) override;
  void Replan(const nlohmann::json& request, JsonCallback done) override;

 private:
  struct Worker;
  struct Stats {
    uint64_t success = 0, failure = 0, success_ns = 0, failure_ns = 0;
    uint64_t inferences = 0;  // samples (batch elements)
    uint64_t executions = 0;  // model executions (a dynamic batch is one)
    uint64_t queue_ns = 0;    // time in the dynamic batcher's queue
    uint64_t compute_ns = 0;  // worker round trips of successful executions
    uint64_t last_inference_ms = 0;
  };
  // One request on its way to a worker, alone or in a dynamic batch.
  struct PendingInfer {
    server::InferRequest request;
    int64_t batch = 1;  // samples (dimension 0 of the inputs when the model batches)
    uint64_t started_ns = 0;
    std::function<void(Result<server::InferResponse>)> done;
    InFlight::Ticket ticket;  // the model's, held until this request is done with
  };
  // Where a model's instance runs. Requests hold a ticket of the placement they were sent
  // to (taken under mu_ with the route), so a move waits for exactly those.
  struct Placement {
    std::shared_ptr<Worker> worker;
    uint32_t slot = 0;
    InFlight requests;
  };
  struct Model {
    ServedModel served;
    ModelInstanceConfig instance;
    Isolation isolation = Isolation::kShared;
    bool latency_sensitive = false;
    uint64_t estimated_bytes = 0;  // the estimator's footprint (without a context)
    uint64_t planned_bytes = 0;    // footprint the plan used
    // Of planned_bytes, what a shared worker reuses between its models (activations,
    // workspaces): its models add their resident parts and the largest transient part.
    uint64_t transient_bytes = 0;
    bool planned_from_measurement = false;
    std::string digest;
    std::string signature;    // RepositorySignature() when read: poll mode's change test
    ModelStateMachine state;  // changes only through Transition (serve/model_state.h)
    // Requests accepted and not yet answered (queued, in flight) hold its tickets; an
    // unload closes it and waits for the last one.
    InFlight requests;
    std::atomic<uint64_t> measured_peak_bytes{0};
    // The largest output bytes per batch sample seen so far: sizes response regions of
    // models whose outputs have variable dimensions (0 until the first reply).
    std::atomic<uint64_t> output_bytes_per_sample{0};
    // Devices wanted (parameters.replicas), each running instances_per_device instances
    // (the instance_group counts) side by side in one slot of a worker of the model's own.
    // planned_bytes and transient_bytes cover all the instances of one device.
    int instances = 1;
    int instances_per_device = 1;
    // Where it runs, one placement per device; a request goes to the least busy one whose
    // worker is up. GUARDED_BY(mu_); empty until placed.
    std::vector<std::shared_ptr<Placement>> placements;
    Mutex stats_mu;
    std::string failure GUARDED_BY(stats_mu);
    Stats stats GUARDED_BY(stats_mu);
    // A consistent copy of `stats`, and of `failure` into `*last_failure`.
    Stats StatsSnapshot(std::string* last_failure) {
      MutexLock lock(&stats_mu);
      *last_failure = failure;
      return stats;
    }
    // Set when the config asks for dynamic_batching (and the model batches).
    std::unique_ptr<DynamicBatcher<PendingInfer>> batcher;
  };
  struct Device {
    int index = 0;
    std::string label;    // "cpu", "cpu0", "gpu0": names workers and metrics
    std::string runtime;  // "cpu" or "cuda:N": what workers run on
    std::string name;     // catalog or NVML name ("cpu" for the host)
    uint64_t capacity_bytes = 0;
    uint64_t context_bytes = 0;  // per worker process (kHostWorkerContextBytes on the host)
    bool host = true;
    bool nvml = false;  // a real GPU: NVML measures its free memory
  };
  struct Worker {
    std::string name;     // shown in logs, status and metrics; reused after a worker stops
    std::string process;  // its ProcessManager key, "name#N": never reused

    int device = 0;  // Device::index
    bool isolated = false;
    int execution_threads = 1;  // requests it runs at once (`modelgrid worker`'s option)
    std::unique_ptr<WorkerClient> client;
    std::map<uint32_t, std::shared_ptr<Model>> slots;  // GUARDED_BY(mu_)
    uint32_t next_slot = 0;                            // GUARDED_BY(mu_)
    std::atomic<bool> loaded_once{false};
  };
  using LoadCallback = std::function<void(Result<uint64_t> peak_bytes)>;
  // The instance a request goes to: the least busy one whose worker is up, else the first
  // (whose call then fails fast); null when the model is not placed. Requires mu_ (shared).
  static std::shared_ptr<Placement> Route(const Model& m);
  // True when `m` has an instance in a worker other than `except` that is up (mu_ held).
  static bool OtherInstanceUp(const Model& m, const Worker* except);
  // What a worker's models need together (without its context): each one's resident part,
  // plus the largest transient part when the worker is shared. Requires mu_ (shared).
  static uint64_t WorkerBudget(const Worker& worker);

  ModelGrid(ServeOptions options, Logger log)
      : options_(std::move(options)), log_(std::move(log)) {}
  // Start-up: devices, the initial model set, the initial plan.
  Status ResolveDevices();
  Result<std::shared_ptr<Model>> ReadModel(const std::string& name);
  Status PlaceInitial(const std::vector<std::string>& names);
  // The devices as the planner sees them (full capacity, each one's context cost).
  std::vector<GpuDevice> PlanDevices() const;
  std::shared_ptr<Worker> NewWorker(int device, bool isolated, const std::string& first_model)
      REQUIRES(mu_);
  Status StartWorker(const std::shared_ptr<Worker>& worker);
  void StopWorker(const std::shared_ptr<Worker>& worker, uint32_t grace_ms);
  // Loads `model` into `worker`'s `slot`; `done` gets the warm-up peak (and the footprint
  // store is updated), or the error.
  void LoadSlot(const std::shared_ptr<Worker>& worker, uint32_t slot,
                const std::shared_ptr<Model>& model, LoadCallback done);
  // ProcessManager callbacks, by the worker's `process` key.
  // The one key under which `m`'s measured peak on `device` is stored and found.
  static FootprintKey FootprintKeyFor(const Model& m, const std::string& device);
  // Moves `m` to `to`; an illegal move is refused and logged as a warning.
  void MoveState(Model& m, ModelState to);
  void OnWorkerStarted(const std::string& process);
  void OnExit(const std::string& process, int exit_code, int exit_status, bool will_restart);
  void Watchdog();
  // The worker whose ProcessManager key is `process`, or null. Requires mu_ (shared).
  std::shared_ptr<Worker> FindWorkerProcess(const std::string& process) const REQUIRES_SHARED(mu_);
  void AttachBatcher(const std::shared_ptr<Model>& m);
  Result<std::shared_ptr<Model>> Find(const std::string& model, const std::string& version) const;
  // Sends a group of requests as one execution (concatenated along dimension 0 when there
  // are several) and completes each with its slice of the outputs.
  void Execute(Model* m, std::vector<PendingInfer> group);
  // Answers every request of an executed group from the worker's reply.
  void RespondGroup(Model* m, std::vector<PendingInfer>& group, int64_t total, Result<Reply> reply);
  // Answers one request; the last thing it does is release the request's hold on `m`.
  void Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs);

  // Model control; each runs on the control thread, one at a time.
  void Control(std::function<void()> task);
  void ControlLoop();
  // One reading of measured memory: NVML (only when a device is a real GPU) and the host.
  struct Usage {
    std::optional<std::vector<GpuUsage>> gpus;
    std::optional<HostMemory> host;
  };
  Usage MeasureUsage() const;
  std::vector<DeviceState> DeviceStates(const Usage& usage) const;
  std::vector<DeviceState> DeviceStates() const { return DeviceStates(MeasureUsage()); }
  Result<nlohmann::json> DoLoad(const std::string& name);
  Result<nlohmann::json> DoUnload(const std::string& name);
  Result<nlohmann::json> DoMove(const std::string& name, std::optional<int> device,
                                std::optional<Isolation> isolation);
  // Moves one instance of `m` (`from`) to `target` with `isolation`.
  Result<nlohmann::json> MoveInstance(const std::shared_ptr<Model>& m,
                                      const std::shared_ptr<Placement>& from, int target,
                                      Isolation isolation);
  // Admits and loads up to m->instances instances of `m`, each on a device of its own
  // (blocking). Fails when not even the first fits or loads; `notes` says why any later
  // one is missing. Nothing is routed yet.
  Result<std::vector<std::shared_ptr<Placement>>> LoadInstances(const std::shared_ptr<Model>& m,
                                                                std::vector<std::string>* notes);
  Result<nlohmann::json> DoReplan(Strategy strategy, bool dry_run);
  // Places `m` (admitted on `device`) in a new or the device's shared worker and loads it;
  // blocks until loaded. On success the new placement is returned but not yet routed.
  Result<std::shared_ptr<Placement>> LoadPlaced(const std::shared_ptr<Model>& m,
                                                const Admission& admission);
  // Waits for the placement's requests, unloads its slot and stops its worker when it has
  // no slot left. Returns the bytes that went back (measured), when known.
  std::optional<uint64_t> Release(const std::shared_ptr<Placement>& placement);
  // Poll mode: queues SyncRepository() on the control thread every poll interval.
  void PollRepository();
  // Loads new and changed models, unloads removed ones (control thread only).
  void SyncRepository();
  // Measured free memory of a device now (NVML on a GPU, available memory on the host).
  std::optional<uint64_t> MeasuredFreeBytes(int device, const Usage& usage) const;
  // Measured memory of a worker process (RSS on the host, NVML on a GPU), when known.
  std::optional<uint64_t> WorkerMemoryBytes(const Worker& worker, const Usage& usage) const;

  const ServeOptions options_;
  const Logger log_;
  uint64_t started_ms_ = 0;                  // set by Start
  std::atomic<uint64_t> next_worker_id_{0};  // makes Worker::process unique
  std::unique_ptr<FootprintStore> store_;
  Strategy strategy_ = Strategy::kMemoryOptimized;
  std::vector<Device> devices_;  // fixed after Start
  mutable SharedMutex mu_;
  std::map<std::string, std::shared_ptr<Model>> models_ GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Worker>> workers_ GUARDED_BY(mu_);
  std::map<std::string, std::string> unplaced_ GUARDED_BY(mu_);  // name -> why
  std::unique_ptr<ProcessManager> processes_;
  // Lock order: loop_mu_, then mu_.
  Mutex loop_mu_ ACQUIRED_BEFORE(mu_);
  server::EventLoop* event_loop_ GUARDED_BY(loop_mu_) = nullptr;  // the HTTP server's
  std::atomic<bool> stopping_{false};
  std::thread watchdog_;
  // The control thread and its queue.
  Mutex control_mu_;
  CondVar control_cv_;
  std::deque<std::function<void()>> control_queue_ GUARDED_BY(control_mu_);
  bool control_stopped_ GUARDED_BY(control_mu_) = false;
  bool sync_queued_ GUARDED_BY(control_mu_) = false;
  std::map<std::string, std::string> failed_signature_;  // control thread only
  std::thread control_;
  std::thread poller_;
  std::atomic<uint64_t> worker_restarts_{0};
  Mutex observe_mu_;
  CpuUtilization cpu_ GUARDED_BY(observe_mu_);
};

}  // namespace modelgrid
