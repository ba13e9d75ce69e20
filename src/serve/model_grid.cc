// ModelGrid lifecycle: placement, workers, loading, restarts. See model_grid.h.
#include "serve/model_grid.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpu/inventory.h"
#include "ipc/heartbeat.h"
#include "ipc/shm_layout.h"
#include "plan/manifest.h"
#include "plan/planner.h"
#include "serve/worker_protocol.h"

namespace modelgrid {

namespace {

// The host's memory, the capacity of the "cpu" device.
uint64_t HostMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                               : uint64_t{8} << 30;
}

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

Result<std::unique_ptr<ModelGrid>> ModelGrid::Start(const ServeOptions& options, Logger log) {
  std::unique_ptr<ModelGrid> grid(new ModelGrid(options, std::move(log)));
  MG_ASSIGN_OR_RETURN(grid->store_, FootprintStore::Open(options.footprint_store_path));
  MG_RETURN_IF_ERROR(grid->Place());
  MG_RETURN_IF_ERROR(grid->StartWorkers());
  grid->watchdog_ = std::thread([g = grid.get()] { g->Watchdog(); });
  return grid;
}

ModelGrid::~ModelGrid() { Shutdown(2000); }

Status ModelGrid::Place() {
  MG_ASSIGN_OR_RETURN(std::vector<ServedModel> served, ReadServeRepository(options_.repository));
  for (auto& m : served) {
    for (const auto& w : m.warnings) log_("warning: " + w);
  }
  // Devices: the host CPU, or GPUs (NVML or a virtual spec).
  std::vector<GpuDevice> devices;
  const bool cpu = options_.gpus == "cpu";
  if (cpu) {
    GpuDevice host;
    host.name = "cpu";
    host.capacity_bytes = host.free_bytes = HostMemoryBytes();
    devices.push_back(host);
  } else {
    auto gpus = ResolveGpus(options_.gpus);
    if (!gpus.ok()) return gpus.status().WithContext("--gpus " + options_.gpus);
    devices = std::move(gpus).value();
  }
  // Footprints: the estimator's prediction, or a measurement from an earlier warm-up.
  ManifestOptions manifest;
  if (!cpu) manifest.gpu = devices.front().name;
  MG_ASSIGN_OR_RETURN(std::vector<ModelRequest> requests,
                      LoadTritonRepository(options_.repository, manifest));
  for (auto& r : requests) {
    auto it = std::find_if(served.begin(), served.end(),
                           [&](const ServedModel& s) { return s.name == r.name; });
    if (it == served.end()) continue;
    auto model = std::make_unique<Model>();
    model->served = *it;
    model->planned_bytes = r.footprint_bytes;
    if (auto digest = FileDigest(it->model_path); digest.ok()) model->digest = *digest;
    const FootprintKey key{model->digest, std::max<int64_t>(1, it->config.max_batch_size), "fp32",
                           devices.front().name};
    if (auto measured = store_->Get(key)) {
      r.footprint_bytes = *measured;
      model->planned_bytes = *measured;
      model->planned_from_measurement = true;
    }
    models_[r.name] = std::move(model);
  }
  PlanOptions plan_options;
  MG_ASSIGN_OR_RETURN(plan_options.strategy, ParseStrategy(options_.strategy));
  if (cpu) plan_options.context_bytes = 1;  // no CUDA context on the host
  MG_ASSIGN_OR_RETURN(Plan plan, MakePlan(requests, devices, plan_options));
  for (const auto& u : plan.unplaced) {
    log_("warning: model " + u.name + " is not served: " + u.reason);
    unplaced_.push_back(u.name);
    models_.erase(u.name);
  }
  for (const auto& gpu : plan.gpus) {
    for (const auto& pw : gpu.workers) {
      auto worker = std::make_unique<Worker>();
      worker->isolated = pw.isolation == Isolation::kProcess;
      worker->device = cpu ? "cpu" : "cuda:" + std::to_string(gpu.index);
      worker->gpu_name = gpu.name;
      worker->name = (cpu ? std::string("cpu") : "gpu" + std::to_string(gpu.index)) +
                     (worker->isolated ? "-" + pw.models.front() : "-shared");
      uint64_t budget = 0;
      for (uint64_t b : pw.model_bytes) budget += b;
      uint32_t slot = 0;
      for (const auto& instance : pw.models) {
        const std::string name = instance.substr(0, instance.find('#'));
        auto it = models_.find(name);
        if (it == models_.end()) continue;
        Model& m = *it->second;
        if (!m.worker.empty()) continue;  // replicas beyond the first are not served yet
        MG_ASSIGN_OR_RETURN(
            m.instance,
            InstanceConfigFromTriton(m.served.config, m.served.model_path, worker->device, 0));
        // The worker's planned budget caps each of its instances (on the CPU the backend
        // rejects requests that would exceed it; on CUDA it is the allocator's fraction).
        m.instance.memory_limit_bytes = budget;
        m.worker = worker->name;
        m.slot = slot++;
        const TritonModelConfig& tc = m.served.config;
        if (tc.dynamic_batching && tc.max_batch_size > 1) {
          BatchingOptions batching{tc.max_batch_size, tc.preferred_batch_sizes,
                                   static_cast<uint64_t>(tc.max_queue_delay_microseconds)};
          Model* model = &m;
          m.batcher = std::make_unique<DynamicBatcher<PendingInfer>>(
              batching,
              [this, model](std::vector<PendingInfer> group) { Execute(model, std::move(group)); });
        }
        worker->models.push_back(name);
      }
      if (!worker->models.empty()) workers_[worker->name] = std::move(worker);
    }
  }
  return Status::Ok();
}

Status ModelGrid::StartWorkers() {
  processes_ = std::make_unique<ProcessManager>(
      RestartPolicy{},
      [this](const std::string& name, pid_t, int code, int status, bool restart) {
        OnExit(name, code, status, restart);
      },
      [this](const std::string& name, pid_t pid) {
        auto it = workers_.find(name);
        if (it == workers_.end()) return;
        log_("worker " + name + " started (pid " + std::to_string(pid) + ", " + it->second->device +
             ")");
        it->second->client->MarkUp();
        LoadModels(name);
      });
  for (auto& [name, worker] : workers_) {
    MG_ASSIGN_OR_RETURN(worker->client, WorkerClient::Create(name, options_.shm));
  }
  for (auto& [name, worker] : workers_) {
    const int fd = worker->client->segment_fd();
    const std::string exe = options_.worker_executable;
    auto started =
        processes_->Start(name, [exe, fd, name](const std::string&) -> Result<WorkerCommand> {
          return WorkerCommand{{exe, "worker", "--shm-fd", std::to_string(fd), "--name", name},
                               {fd}};
        });
    if (!started.ok()) return started.status();
  }
  return Status::Ok();
}

void ModelGrid::LoadModels(const std::string& worker_name) {
  Worker& worker = *workers_.at(worker_name);
  for (const auto& name : worker.models) {
    Model* m = models_.at(name).get();
    m->state = ModelState::kLoading;
    const std::string config = LoadConfigToJson(m->instance);
    CallTensor t{"config",
                 static_cast<uint8_t>(ipc::WireDType::kBytes),
                 {static_cast<int64_t>(config.size())},
                 config.data(),
                 config.size()};
    const auto started = std::chrono::steady_clock::now();
    worker.client->Call(
        static_cast<uint8_t>(ipc::Op::kLoad), m->slot, {t}, 0,
        [this, m, started, device = worker.gpu_name](Result<Reply> r) {
          const double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
          if (!r.ok()) {
            {
              std::lock_guard<std::mutex> lock(m->stats_mu);
              m->failure = r.status().message();
            }
            m->state = r.status().code() == StatusCode::kUnavailable ? ModelState::kUnavailable
                                                                     : ModelState::kFailed;
            log_("model " + m->served.name + " failed to load: " + r.status().message());
            return;
          }
          auto j = nlohmann::json::parse(r->text, nullptr, false);
          const uint64_t peak = j.is_object() ? j.value("peak_bytes", uint64_t{0}) : 0;
          m->measured_peak_bytes = peak;
          if (peak > 0 && !m->digest.empty()) {
            const FootprintKey key{m->digest, std::max<int64_t>(1, m->served.config.max_batch_size),
                                   "fp32", device};
            if (Status st = store_->Put(key, peak); !st.ok()) log_("warning: " + st.message());
          }
          m->state = ModelState::kReady;
          char line[256];
          std::snprintf(
              line, sizeof line, "model %s ready in %.2f s (warm-up peak %s, planned %s%s)",
              m->served.name.c_str(), seconds, MiB(peak).c_str(), MiB(m->planned_bytes).c_str(),
              m->planned_from_measurement ? ", measured earlier" : ", estimated");
          log_(line);
        });
  }
}

void ModelGrid::OnExit(const std::string& name, int exit_code, int exit_status, bool will_restart) {
  auto it = workers_.find(name);
  if (it == workers_.end()) return;
  const std::string why = exit_code == CLD_EXITED ? "exit status " + std::to_string(exit_status)
                                                  : "signal " + std::to_string(exit_status);
  for (const auto& model : it->second->models) models_.at(model)->state = ModelState::kUnavailable;
  it->second->client->OnWorkerExit(why);
  if (!stopping_) {
    log_("worker " + name + " exited (" + why + ")" + (will_restart ? "; restarting" : ""));
  }
}

void ModelGrid::Watchdog() {
  std::map<std::string, uint64_t> silent_since;
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (auto& [name, worker] : workers_) {
      if (!worker->client->up() || worker->client->HeartbeatAlive(options_.heartbeat_timeout_ms)) {
        silent_since.erase(name);
        continue;
      }
      // Not beating: give a starting worker the same grace before killing it.
      const uint64_t now = ipc::MonotonicNowMs();
      auto [it, fresh] = silent_since.emplace(name, now);
      if (!fresh && now - it->second > options_.heartbeat_timeout_ms) {
        log_("worker " + name + " stopped answering heartbeats; killing it");
        (void)processes_->Kill(name);
        silent_since.erase(it);
      }
    }
  }
}

void ModelGrid::Shutdown(uint32_t grace_ms) {
  if (stopping_.exchange(true)) return;
  // Queued dynamic batches go out (or fail) while their workers still exist.
  for (auto& [name, m] : models_) m->batcher.reset();
  if (watchdog_.joinable()) watchdog_.join();
  if (processes_) {
    for (const auto& name : processes_->Names()) (void)processes_->Stop(name, grace_ms);
    processes_.reset();
  }
}

bool ModelGrid::AllSettled(int* ready, int* total) const {
  *ready = 0;
  *total = static_cast<int>(models_.size());
  bool settled = true;
  for (const auto& [name, m] : models_) {
    const ModelState s = m->state;
    *ready += s == ModelState::kReady;
    settled = settled && (s == ModelState::kReady || s == ModelState::kFailed);
  }
  return settled;
}

pid_t ModelGrid::WorkerPid(const std::string& model) const {
  auto it = models_.find(model);
  if (it == models_.end() || !processes_) return -1;
  return processes_->Pid(it->second->worker);
}

std::string ModelGrid::PlacementTable() const {
  std::string out = "placement (" + options_.strategy + "):\n";
  for (const auto& [name, w] : workers_) {
    out += "  " + w->device + "  worker " + name + (w->isolated ? " (own process)" : " (shared)") +
           ":";
    for (const auto& model : w->models) {
      const Model& m = *models_.at(model);
      out += " " + model + " [" + MiB(m.planned_bytes) +
             (m.planned_from_measurement ? " measured]" : " estimated]");
    }
    out += "\n";
  }
  for (const auto& u : unplaced_) out += "  not served: " + u + "\n";
  return out;
}

}  // namespace modelgrid
