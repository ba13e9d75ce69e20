// ModelGrid's start, shutdown and the parts of the InferenceService that read the grid.
// See model_grid.h.
#include "serve/model_grid.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/temp_folder.h"
#include "ipc/heartbeat.h"
#include "plan/planner.h"
#include "serve/devices.h"
#include "serve/grid_constants.h"
#include "serve/host_policy.h"
#include "serve/model_config_json.h"
#include "serve/model_grid_parts.h"

namespace modelgrid {

using nlohmann::json;

namespace {

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

json IoJson(const std::vector<IoSpec>& specs, int64_t max_batch_size) {
  json out = json::array();
  for (const auto& s : specs) {
    std::vector<int64_t> shape;
    if (max_batch_size > 0) shape.push_back(-1);
    shape.insert(shape.end(), s.dims.begin(), s.dims.end());
    out.push_back(
        {{"name", s.name}, {"datatype", std::string(TensorDTypeName(s.dtype))}, {"shape", shape}});
  }
  return out;
}

// Gives each device the --host-policy that names it, and says so.
Status BindDevices(const std::map<std::string, HostPolicy>& policies, GridContext& g) {
  if (policies.empty()) return Status::Ok();
  MG_ASSIGN_OR_RETURN(auto bindings,
                      ResolveHostBindings(policies, g.devices, HostTopology::Read()));
  for (Device& d : g.devices) {
    d.host_binding = bindings[static_cast<size_t>(d.index)];
    if (!d.host_binding.empty()) {
      MG_RETURN_IF_ERROR(
          ProbeHostBinding(d.host_binding).WithContext("--host-policy " + HostPolicyName(d)));
      g.log("host policy " + HostPolicyName(d) + ": " + d.label + "'s workers run with " +
            d.host_binding.ToString());
    }
  }
  return Status::Ok();
}

}  // namespace

ModelGrid::ModelGrid(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Result<std::unique_ptr<ModelGrid>> ModelGrid::Start(const ServeOptions& options, Logger log,
                                                    std::unique_ptr<WorkerLauncher> launcher) {
  auto parts = std::make_unique<Parts>();
  GridContext& g = parts->grid;
  g.options = options;
  g.log = std::move(log);
  g.started_ms = ipc::MonotonicNowMs();
  MG_ASSIGN_OR_RETURN(g.strategy, ParseStrategy(options.strategy));
  MG_ASSIGN_OR_RETURN(g.store, FootprintStore::Open(options.footprint_store_path));
  MG_ASSIGN_OR_RETURN(g.devices, ResolveDevices(options.gpus));
  MG_RETURN_IF_ERROR(BindDevices(options.host_policies, g));
  if (options.modelmesh) {
    if (options.model_control != ModelControlMode::kExplicit) {
      return InvalidArgument("ModelMesh's runtime SPI needs model control mode 'explicit'");
    }
    MG_ASSIGN_OR_RETURN(parts->mesh.stage, MakeTempFolder("modelgrid-mesh"));
  }
  if (!launcher) launcher = MakeProcessLauncher(options);
  Registry& registry = parts->registry;
  parts->requests = std::make_unique<RequestPath>(g, registry);
  RequestPath* requests = parts->requests.get();
  parts->bls = std::make_unique<BlsServer>(
      [requests](server::InferRequest request,
                 std::function<void(Result<server::InferResponse>)> done) {
        requests->Infer(std::move(request), std::move(done));
      });
  launcher->ServeBls(parts->bls.get());
  parts->pool = std::make_unique<WorkerPool>(g, registry, std::move(launcher));
  parts->observer = std::make_unique<Observer>(g, registry, *parts->pool);
  parts->tiers = std::make_unique<TierManager>(g, registry, *parts->pool, *parts->observer);
  if (parts->tiers->enabled()) {
    TierManager* tiers = parts->tiers.get();
    parts->requests->UseTiers(tiers);
    parts->pool->SetColdOnStart([tiers](Model& m) { return tiers->ColdOnStart(m); });
  }
  parts->reconciler = std::make_unique<Reconciler>(g, registry, *parts->pool, *parts->observer,
                                                   *parts->requests, *parts->tiers);
  // The initial model set: every model, or in explicit mode the ones asked for.
  std::vector<std::string> names;
  const bool all = options.model_control != ModelControlMode::kExplicit ||
                   std::count(options.load_models.begin(), options.load_models.end(), "*") > 0;
  if (all) {
    MG_ASSIGN_OR_RETURN(names, ListRepositoryModels(options.repository));
    if (names.empty() && options.model_control == ModelControlMode::kNone) {
      return NotFound("model repository " + options.repository + " has no <model>/config.pbtxt");
    }
  } else {
    names = options.load_models;
  }
  MG_RETURN_IF_ERROR(parts->reconciler->PlaceInitial(names));
  for (const auto& w : registry.Workers()) MG_RETURN_IF_ERROR(parts->pool->Start(*w));
  parts->pool->StartWatchdog();
  parts->observer->Start();
  parts->reconciler->Start();
  parts->tiers->Start();
  return std::unique_ptr<ModelGrid>(new ModelGrid(std::move(parts)));
}

ModelGrid::~ModelGrid() {
  Shutdown(grid_constants::kStopUnneededWorkerGraceMs);
  if (!parts_->mesh.stage.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(parts_->mesh.stage, ec);  // links only
  }
}

void ModelGrid::BeginShutdown() { parts_->pool->BeginShutdown(); }

void ModelGrid::Shutdown(uint32_t grace_ms) {
  BeginShutdown();
  if (parts_->grid.stopping.exchange(true)) return;
  parts_->reconciler->Stop();
  parts_->tiers->Stop();  // requests waiting for a swap-in fail now
  // Queued dynamic batches go out (or fail) while their workers still exist.
  for (const auto& m : parts_->registry.Models()) m->batcher.reset();
  parts_->pool->StopWatchdog();
  parts_->pool->StopAll(grace_ms);
  parts_->bls->Stop();
}

bool ModelGrid::AllSettled(int* ready, int* total) const {
  return parts_->registry.AllSettled(ready, total);
}

std::string ModelGrid::PlacementTable() const {
  const Registry& r = parts_->registry;
  ReaderLock lock(&r.mu);
  std::string out = "placement (" + parts_->grid.options.strategy + "):\n";
  for (const auto& [name, w] : r.workers) {
    out += "  " + parts_->grid.device(w->device).label + "  worker " + name +
           (w->isolated ? " (own process)" : " (shared)") + ":";
    for (const auto& [slot, m] : w->slots(r.mu)) {
      out += " " + m->served.name + " [" + MiB(m->planned_bytes) +
             (m->planned_from_measurement ? " measured]" : " estimated]");
    }
    out += "\n";
  }
  for (const auto& [name, why] : r.unplaced) out += "  not served: " + name + " (" + why + ")\n";
  if (r.workers.empty()) out += "  (no model loaded)\n";
  return out;
}

bool ModelGrid::Ready() { return !parts_->grid.stopping && parts_->registry.AllReady(); }

void ModelGrid::Infer(server::InferRequest request,
                      std::function<void(Result<server::InferResponse>)> done) {
  parts_->requests->Infer(std::move(request), std::move(done));
}

void ModelGrid::InferStream(server::InferRequest request, StreamCallback each) {
  parts_->requests->InferStream(std::move(request), std::move(each));
}

void ModelGrid::UseEventLoop(server::EventLoop* loop) { parts_->pool->UseEventLoop(loop); }

Result<std::string> ModelGrid::Metrics() {
  return RenderMetrics(parts_->observer->Snapshot(Ready()), parts_->grid.devices);
}

Result<json> ModelGrid::ServerStatus() {
  return RenderStatus(parts_->observer->Snapshot(Ready()), parts_->grid);
}

Result<json> ModelGrid::ServerMetadata() {
  return json{{"name", "modelgrid"},
              {"version", MODELGRID_VERSION},
              // Exactly the extensions that work (README's Triton compatibility table).
              {"extensions",
               {"classification", "model_repository", "model_repository(unload_dependents)",
                "model_configuration", "system_shared_memory", "binary_tensor_data", "parameters",
                "statistics", "logging", "modelgrid"}}};
}

Result<json> ModelGrid::ModelMetadata(const std::string& model, const std::string& version) {
  MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, parts_->registry.Find(model, version));
  return json{{"name", m->served.name},
              {"versions", {std::to_string(m->served.version)}},
              // Triton's: the platform, or the backend's name for Python models.
              {"platform", m->instance.backend == "python" ? "python" : "pytorch_libtorch"},
              {"inputs", IoJson(m->instance.inputs, m->instance.max_batch_size)},
              {"outputs", IoJson(m->instance.outputs, m->instance.max_batch_size)}};
}

Result<json> ModelGrid::ModelConfig(const std::string& model, const std::string& version) {
  const Registry& r = parts_->registry;
  MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, r.Find(model, version));
  std::vector<Device> where;
  {
    ReaderLock lock(&r.mu);
    for (const auto& p : m->placements(r.mu))
      where.push_back(parts_->grid.device(p->worker->device));
  }
  return TritonConfigJson(*m, where);
}

Result<bool> ModelGrid::ModelReady(const std::string& model, const std::string& version) {
  MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, parts_->registry.Find(model, version));
  return m->state == ModelState::kReady && !parts_->grid.stopping;
}

Result<json> ModelGrid::ModelStats(const std::string& model, const std::string& version) {
  const Registry& r = parts_->registry;
  std::vector<std::shared_ptr<Model>> selected;
  if (model.empty()) {
    selected = r.Models();
  } else {
    MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, r.Find(model, version));
    selected.push_back(m);
  }
  json stats = json::array();
  for (const auto& m : selected) {
    std::string failure;
    const InferStats s = m->StatsSnapshot(&failure);
    std::string worker, device = "cpu";
    {
      ReaderLock lock(&r.mu);
      for (const auto& p : m->placements(r.mu)) {
        worker += (worker.empty() ? "" : ",") + p->worker->name;
        device = parts_->grid.device(p->worker->device).runtime;
      }
    }
    json entry = {{"name", m->served.name},
                  {"version", std::to_string(m->served.version)},
                  {"last_inference", s.last_inference_ms},
                  {"inference_count", s.inferences},
                  {"execution_count", s.executions},
                  {"inference_stats",
                   {{"success", {{"count", s.success}, {"ns", s.success_ns}}},
                    {"fail", {{"count", s.failure}, {"ns", s.failure_ns}}},
                    {"queue", {{"count", s.success + s.failure}, {"ns", s.queue_ns}}},
                    {"compute_input", {{"count", 0}, {"ns", 0}}},
                    {"compute_infer", {{"count", s.executions}, {"ns", s.compute_ns}}},
                    {"compute_output", {{"count", 0}, {"ns", 0}}}}},
                  {"batch_stats", json::array()},
                  {"memory_usage",
                   {{{"type", device == "cpu" ? "CPU" : "GPU"},
                     {"id", 0},
                     {"byte_size", m->measured_peak_bytes.load()}}}},
                  {"modelgrid",
                   {{"worker", worker},
                    {"device", device},
                    {"planned_bytes", m->planned_bytes},
                    {"planned_from", m->planned_from_measurement ? "measurement" : "estimate"},
                    {"measured_peak_bytes", m->measured_peak_bytes.load()},
                    {"state", m->state == ModelState::kReady ? "ready" : "not ready"},
                    {"estimated_bytes", m->estimated_bytes},
                    {"last_error", failure}}}};
    stats.push_back(std::move(entry));
  }
  return json{{"model_stats", stats}};
}

}  // namespace modelgrid
