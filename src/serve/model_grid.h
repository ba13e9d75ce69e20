// ModelGrid: the serving core behind the front ends, a facade over four parts
// (docs/ARCHITECTURE.md): the Registry (models, workers, states), the WorkerPool (worker
// lives, restarts, watchdog), the Reconciler (every change, on the control thread) and the
// Observer (metrics and status from snapshots), with the RequestPath between front end and
// workers. Reads a model repository, places its models with the planner and serves them
// from worker processes, which it restarts when they die.
//
// Model lifecycle (serve/model_state.h): LOADING -> READY; a worker exit makes the models
// it alone served UNAVAILABLE until its restart reloaded them; an unload passes UNLOADING
// (new requests get 503, those in flight finish) and then the model is gone (404).
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "serve/serve_options.h"
#include "serve/worker_launcher.h"
#include "server/inference_service.h"
#include "server/model_runtime.h"

namespace modelgrid {

class ModelGrid : public server::InferenceService, public server::ModelRuntime {
 public:
  using Logger = std::function<void(const std::string&)>;

  // Reads, plans and starts the workers; models load in the background (see AllSettled).
  // `launcher` null: worker processes (MakeProcessLauncher).
  static Result<std::unique_ptr<ModelGrid>> Start(const ServeOptions& options, Logger log,
                                                  std::unique_ptr<WorkerLauncher> launcher = {});
  ~ModelGrid() override;  // Shutdown with a short grace

  // True once every placed model is READY or FAILED; `*ready` and `*total` count them.
  bool AllSettled(int* ready, int* total) const;
  // The placement, one line per worker: device, worker, isolation, models.
  std::string PlacementTable() const;
  // No worker is restarted from now on (requests in flight keep being served by the
  // others). Call before draining; idempotent.
  void BeginShutdown();
  // Stops every worker (SIGUSR1, then SIGKILL after `grace_ms`). Idempotent.
  void Shutdown(uint32_t grace_ms);

  // server::InferenceService
  bool Live() override { return true; }
  bool Ready() override;
  Result<nlohmann::json> ServerMetadata() override;
  Result<nlohmann::json> ModelMetadata(const std::string& model,
                                       const std::string& version) override;
  Result<nlohmann::json> ModelConfig(const std::string& model, const std::string& version) override;
  Result<bool> ModelReady(const std::string& model, const std::string& version) override;
  Result<nlohmann::json> ModelStats(const std::string& model, const std::string& version) override;
  void Infer(server::InferRequest request,
             std::function<void(Result<server::InferResponse>)> done) override;
  void InferStream(server::InferRequest request, StreamCallback each) override;
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

  // server::ModelRuntime: KServe ModelMesh's SPI (model_grid_mesh.cc), with
  // ServeOptions::modelmesh (kUnavailable without). A model's size is what it is charged:
  // the larger of its prediction, its reservation and its warm-up measurement, plus a
  // worker context when it runs in a process of its own.
  void RuntimeStatus(std::function<void(Result<server::RuntimeInfo>)> done) override;
  Result<uint64_t> PredictModelSize(const server::RuntimeModelSource& source) override;
  void LoadRuntimeModel(const server::RuntimeModelSource& source,
                        std::function<void(Result<uint64_t>)> done) override;
  void UnloadRuntimeModel(const std::string& model_id, std::function<void(Status)> done) override;
  Result<uint64_t> RuntimeModelSize(const std::string& model_id) override;

 private:
  struct Parts;
  explicit ModelGrid(std::unique_ptr<Parts> parts);
  const std::unique_ptr<Parts> parts_;
};

}  // namespace modelgrid
