// ModelGrid: the serving core behind the HTTP API. Reads a model repository, places the
// models with the planner, runs them in worker processes (shared workers per device,
// own workers for `isolation: process`), restarts workers that die and reloads their
// models, and implements server::InferenceService on top of them.
//
// Thread-safe. Model lifecycle: kLoading -> kReady; a worker exit moves its models to
// kUnavailable (requests in flight fail with 503 at once, new ones get 503) until the
// restarted worker has reloaded them (kReady again).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "ipc/shm_segment.h"
#include "plan/plan_types.h"
#include "serve/dynamic_batcher.h"
#include "serve/footprint_store.h"
#include "serve/model_repository.h"
#include "serve/process_manager.h"
#include "serve/worker_client.h"
#include "server/inference_service.h"

namespace modelgrid {

struct ServeOptions {
  std::string repository;
  std::string gpus = "cpu";  // "cpu", "auto" (NVML) or a spec such as 2xH100-80GB
  std::string strategy = "memory-optimized";
  std::string worker_executable;         // the modelgrid binary (runs `modelgrid worker`)
  std::string footprint_store_path;      // measured peaks; "" keeps them in memory
  uint32_t heartbeat_timeout_ms = 5000;  // a worker silent this long is killed
  ipc::ShmOptions shm;                   // per worker segment
};

enum class ModelState { kLoading, kReady, kUnavailable, kFailed };

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
  // Stops every worker (SIGTERM, then SIGKILL after `grace_ms`).
  void Shutdown(uint32_t grace_ms);
  // The pid of the worker serving `model`, or -1.
  pid_t WorkerPid(const std::string& model) const;

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

 private:
  struct Stats {
    uint64_t success = 0, failure = 0, success_ns = 0, failure_ns = 0;
    uint64_t inferences = 0;  // samples (batch elements)
    uint64_t executions = 0;  // model executions (a dynamic batch is one)
    uint64_t last_inference_ms = 0;
  };
  // One request on its way to a worker, alone or in a dynamic batch.
  struct PendingInfer {
    server::InferRequest request;
    int64_t batch = 1;  // samples (dimension 0 of the inputs when the model batches)
    uint64_t started_ns = 0;
    std::function<void(Result<server::InferResponse>)> done;
  };
  struct Model {
    ServedModel served;
    ModelInstanceConfig instance;
    std::string worker;
    uint32_t slot = 0;
    uint64_t planned_bytes = 0;  // footprint the plan used
    bool planned_from_measurement = false;
    std::atomic<ModelState> state{ModelState::kLoading};
    std::atomic<uint64_t> measured_peak_bytes{0};
    std::string failure;  // GUARDED_BY(stats_mu)
    std::string digest;
    std::mutex stats_mu;
    Stats stats;  // GUARDED_BY(stats_mu)
    // Set when the config asks for dynamic_batching (and the model batches).
    std::unique_ptr<DynamicBatcher<PendingInfer>> batcher;
  };
  struct Worker {
    std::string name;
    std::string device;    // "cpu" or "cuda:N"
    std::string gpu_name;  // catalog or NVML name, for footprint keys
    bool isolated = false;
    std::unique_ptr<WorkerClient> client;
    std::vector<std::string> models;
  };

  ModelGrid(ServeOptions options, Logger log)
      : options_(std::move(options)), log_(std::move(log)) {}
  Status Place();
  Status StartWorkers();
  void LoadModels(const std::string& worker);
  void OnExit(const std::string& worker, int exit_code, int exit_status, bool will_restart);
  void Watchdog();
  Result<Model*> Find(const std::string& model, const std::string& version) const;
  // Sends a group of requests as one execution (concatenated along dimension 0 when there
  // are several) and completes each with its slice of the outputs.
  void Execute(Model* m, std::vector<PendingInfer> group);
  void Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs);

  const ServeOptions options_;
  const Logger log_;
  std::unique_ptr<FootprintStore> store_;
  std::map<std::string, std::unique_ptr<Model>> models_;    // fixed after Start
  std::map<std::string, std::unique_ptr<Worker>> workers_;  // fixed after Start
  std::vector<std::string> unplaced_;
  std::unique_ptr<ProcessManager> processes_;
  std::atomic<bool> stopping_{false};
  std::thread watchdog_;
};

}  // namespace modelgrid
