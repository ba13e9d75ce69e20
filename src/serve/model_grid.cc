// ModelGrid lifecycle: devices, the initial placement, workers, loading, restarts,
// shutdown. See model_grid.h.
#include "serve/model_grid.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>

#include "formats/dtype.h"
#include "gpu/gpu_catalog.h"
#include "gpu/inventory.h"
#include "ipc/heartbeat.h"
#include "ipc/shm_layout.h"
#include "plan/manifest.h"
#include "plan/planner.h"
#include "plan/worker_budget.h"
#include "serve/model_grid_internal.h"
#include "serve/worker_protocol.h"

namespace modelgrid {

using grid_internal::kWatchdogTick;

namespace {

// The host's memory, the capacity of the "cpu" device.
uint64_t HostMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                               : uint64_t{8} << 30;
}

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

Result<ModelControlMode> ParseModelControlMode(std::string_view name) {
  if (name == "none") return ModelControlMode::kNone;
  if (name == "explicit") return ModelControlMode::kExplicit;
  if (name == "poll") return ModelControlMode::kPoll;
  return InvalidArgument("unknown model control mode '" + std::string(name) +
                         "' (none, explicit or poll)");
}

const char* ModelControlModeName(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone:
      return "none";
    case ModelControlMode::kExplicit:
      return "explicit";
    case ModelControlMode::kPoll:
      return "poll";
  }
  return "none";
}

FootprintKey ModelGrid::FootprintKeyFor(const Model& m, const std::string& device) {
  // Served models are warmed up at their maximum batch with the model file's own weights:
  // the dtype in the key is that of the measurement's inputs, which serve always sends as
  // fp32 today.
  return FootprintKey{m.digest, std::max<int64_t>(1, m.served.config.max_batch_size),
                      std::string(ComputeDTypeName(ComputeDType::kFp32)), device};
}

void ModelGrid::MoveState(Model& m, ModelState to) {
  if (Status st = m.state.Transition(to); !st.ok()) {
    log_("warning: model " + m.served.name + ": " + st.message() + " refused");
  }
}

Result<std::unique_ptr<ModelGrid>> ModelGrid::Start(const ServeOptions& options, Logger log) {
  std::unique_ptr<ModelGrid> grid(new ModelGrid(options, std::move(log)));
  grid->started_ms_ = ipc::MonotonicNowMs();
  MG_ASSIGN_OR_RETURN(grid->strategy_, ParseStrategy(options.strategy));
  MG_ASSIGN_OR_RETURN(grid->store_, FootprintStore::Open(options.footprint_store_path));
  MG_RETURN_IF_ERROR(grid->ResolveDevices());
  ModelGrid* g = grid.get();
  RestartPolicy policy;
  // Signals to the server's process group are the server's: it drains, then stops its
  // workers with SIGUSR1 (whose default action ends them like SIGTERM's).
  policy.shield_from_group_signals = true;
  policy.stop_signal = SIGUSR1;
  g->processes_ = std::make_unique<ProcessManager>(
      policy,
      [g](const std::string& process, pid_t, int code, int status, bool restart) {
        g->OnExit(process, code, status, restart);
      },
      [g](const std::string& process, pid_t pid) {
        g->log_("worker " + process.substr(0, process.find('#')) + " started (pid " +
                std::to_string(pid) + ")");
        g->OnWorkerStarted(process);
      });
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
  MG_RETURN_IF_ERROR(g->PlaceInitial(names));
  std::vector<std::shared_ptr<Worker>> workers;
  {
    ReaderLock lock(&g->mu_);
    for (auto& [name, w] : g->workers_) workers.push_back(w);
  }
  for (auto& w : workers) MG_RETURN_IF_ERROR(g->StartWorker(w));
  g->watchdog_ = std::thread([g] { g->Watchdog(); });
  g->control_ = std::thread([g] { g->ControlLoop(); });
  if (options.model_control == ModelControlMode::kPoll) {
    g->poller_ = std::thread([g] { g->PollRepository(); });
  }
  return grid;
}

ModelGrid::~ModelGrid() { Shutdown(grid_internal::kStopUnneededWorkerGraceMs); }

Status ModelGrid::ResolveDevices() {
  const std::string& spec = options_.gpus;
  if (spec == "cpu") {
    devices_.push_back(
        Device{0, "cpu", "cpu", "cpu", HostMemoryBytes(), kHostWorkerContextBytes, true, false});
    return Status::Ok();
  }
  const bool host = spec.rfind("cpu:", 0) == 0;
  auto gpus = host ? ParseGpuSpec(spec.substr(4)) : ResolveGpus(spec);
  if (!gpus.ok()) return gpus.status().WithContext("--gpus " + spec);
  for (const GpuDevice& g : *gpus) {
    Device d;
    d.index = static_cast<int>(devices_.size());
    d.host = host;
    d.label = (host ? "cpu" : "gpu") + std::to_string(d.index);
    d.runtime = host ? "cpu" : "cuda:" + std::to_string(g.index);
    d.name = g.name;
    d.capacity_bytes = g.capacity_bytes;
    d.context_bytes = host ? kHostWorkerContextBytes : g.context_bytes;
    d.nvml = !g.is_virtual;
    devices_.push_back(std::move(d));
  }
  return Status::Ok();
}

Result<std::shared_ptr<ModelGrid::Model>> ModelGrid::ReadModel(const std::string& name) {
  MG_ASSIGN_OR_RETURN(ServedModel served, ReadServedModel(options_.repository, name));
  for (const auto& w : served.warnings) log_("warning: " + w);
  ManifestOptions manifest;
  if (!devices_.front().host) manifest.gpu = devices_.front().name;
  MG_ASSIGN_OR_RETURN(ModelRequest request,
                      LoadTritonModel(options_.repository + "/" + name, manifest));
  auto m = std::make_shared<Model>();
  m->served = std::move(served);
  m->isolation = request.isolation;
  // parameters.replicas: devices (the planner's rule: replicas on distinct devices).
  // instance_group counts: instances per device, run side by side. A shared worker runs
  // one request at a time (its models take turns with their transient memory), so several
  // instances get a worker of their own with a thread each.
  const TritonModelConfig& tc = m->served.config;
  m->instances = static_cast<int>(std::max<int64_t>({1, request.replicas, tc.instance_gpus}));
  m->instances_per_device =
      static_cast<int>(std::clamp<int64_t>(tc.instances_per_device, 1, kMaxSlotInstances));
  if (tc.instances_per_device > kMaxSlotInstances) {
    log_("warning: model " + name + " asks for " + std::to_string(tc.instances_per_device) +
         " instances per device; serving " + std::to_string(kMaxSlotInstances));
  }
  if (m->instances_per_device > 1) m->isolation = Isolation::kProcess;
  m->latency_sensitive = request.latency_sensitive;
  m->estimated_bytes = m->planned_bytes = request.footprint_bytes;
  // The reuse of transient memory between a shared worker's models is the CUDA caching
  // allocator's. On the host, glibc keeps much of what a forward pass freed, per model:
  // 400 small models planned at 23% of a 2 GiB device with shared transients measured 167%
  // (scripts/density.py), so host workers count whole footprints.
  m->transient_bytes = devices_.front().host ? 0 : request.transient_bytes;
  m->signature = RepositorySignature(options_.repository, name, m->served.version);
  if (auto digest = FileDigest(m->served.model_path); digest.ok()) m->digest = *digest;
  const FootprintKey key = FootprintKeyFor(*m, devices_.front().name);
  // A measured peak from an earlier load beats the estimate; a memory_bytes parameter (the
  // operator's override) beats both.
  const bool overridden = m->served.config.parameters.count("memory_bytes") > 0;
  if (auto measured = store_->Get(key); measured && !overridden) {
    // The measurement replaces the estimate; the estimate's split between resident and
    // transient bytes carries over in proportion.
    m->transient_bytes = static_cast<uint64_t>(static_cast<double>(m->transient_bytes) *
                                               static_cast<double>(*measured) /
                                               static_cast<double>(m->planned_bytes));
    m->transient_bytes = std::min(m->transient_bytes, *measured);
    m->planned_bytes = *measured;
    m->planned_from_measurement = true;
  }
  // Per device: every instance whole (they may all run at once).
  const uint64_t copies = static_cast<uint64_t>(m->instances_per_device);
  m->estimated_bytes *= copies;
  m->planned_bytes *= copies;
  m->transient_bytes *= copies;
  MG_ASSIGN_OR_RETURN(m->instance,
                      InstanceConfigFromTriton(m->served.config, m->served.model_path, "cpu", 0));
  return m;
}

Status ModelGrid::PlaceInitial(const std::vector<std::string>& names) {
  std::vector<ModelRequest> requests;
  std::map<std::string, std::shared_ptr<Model>> read;
  for (const auto& name : names) {
    auto m = ReadModel(name);
    if (!m.ok()) {
      if (options_.model_control == ModelControlMode::kNone) return m.status();
      log_("warning: model " + name + " is not served: " + m.status().message());
      WriterLock lock(&mu_);
      unplaced_[name] = m.status().message();
      continue;
    }
    ModelRequest r;
    r.name = name;
    r.footprint_bytes = (*m)->planned_bytes;
    r.transient_bytes = (*m)->transient_bytes;
    r.replicas = (*m)->instances;
    r.isolation = (*m)->isolation;
    r.latency_sensitive = (*m)->latency_sensitive;
    requests.push_back(std::move(r));
    read[name] = std::move(m).value();
  }
  if (requests.empty()) return Status::Ok();
  PlanOptions plan_options;
  plan_options.strategy = strategy_;
  MG_ASSIGN_OR_RETURN(Plan plan, MakePlan(requests, PlanDevices(), plan_options));
  WriterLock lock(&mu_);
  for (const auto& gpu : plan.gpus) {
    for (const auto& pw : gpu.workers) {
      auto worker = NewWorker(gpu.index, pw.isolation == Isolation::kProcess, pw.models.front());
      if (worker->isolated) {
        auto first = read.find(ModelOfInstance(pw.models.front()));
        if (first != read.end()) worker->execution_threads = first->second->instances_per_device;
      }
      for (const auto& instance : pw.models) {
        auto it = read.find(ModelOfInstance(instance));
        if (it == read.end()) continue;
        const std::shared_ptr<Model>& m = it->second;
        m->instance.device = devices_[static_cast<size_t>(gpu.index)].runtime;
        auto placement = std::make_shared<Placement>();
        placement->worker = worker;
        placement->slot = worker->next_slot++;
        worker->slots[placement->slot] = m;
        if (m->placements.empty()) AttachBatcher(m);
        m->placements.push_back(placement);
        models_[m->served.name] = m;
      }
      if (!worker->slots.empty()) workers_[worker->name] = worker;
    }
  }
  // What did not fit: a whole model, or some of its instances.
  for (const auto& u : plan.unplaced) {
    const std::string name = ModelOfInstance(u.name);
    if (models_.count(name) == 0) {
      log_("warning: model " + name + " is not served: " + u.reason);
      unplaced_[name] = u.reason;
    } else {
      log_("warning: instance " + u.name + " is not served: " + u.reason);
    }
  }
  return Status::Ok();
}

std::vector<GpuDevice> ModelGrid::PlanDevices() const {
  std::vector<GpuDevice> gpus;
  for (const Device& d : devices_) {
    GpuDevice g;
    g.index = d.index;
    g.name = d.name;
    g.capacity_bytes = g.free_bytes = d.capacity_bytes;
    g.context_bytes = std::max<uint64_t>(1, d.context_bytes);
    gpus.push_back(std::move(g));
  }
  return gpus;
}

void ModelGrid::AttachBatcher(const std::shared_ptr<Model>& m) {
  const TritonModelConfig& tc = m->served.config;
  if (!tc.dynamic_batching || tc.max_batch_size <= 1) return;
  BatchingOptions batching{tc.max_batch_size, tc.preferred_batch_sizes,
                           static_cast<uint64_t>(tc.max_queue_delay_microseconds)};
  Model* model = m.get();
  m->batcher = std::make_unique<DynamicBatcher<PendingInfer>>(
      batching,
      [this, model](std::vector<PendingInfer> group) { Execute(model, std::move(group)); });
}

std::shared_ptr<ModelGrid::Worker> ModelGrid::NewWorker(int device, bool isolated,
                                                        const std::string& first_model) {
  const std::string base = devices_[static_cast<size_t>(device)].label +
                           (isolated ? "-" + ModelOfInstance(first_model) : std::string("-shared"));
  std::string name = base;
  for (int n = 2; workers_.count(name); ++n) name = base + "-" + std::to_string(n);
  auto w = std::make_shared<Worker>();
  w->name = name;
  w->process = name + "#" + std::to_string(++next_worker_id_);
  w->device = device;
  w->isolated = isolated;
  return w;
}

Status ModelGrid::StartWorker(const std::shared_ptr<Worker>& worker) {
  if (!worker->client) {
    MG_ASSIGN_OR_RETURN(auto client,
                        WorkerClient::Create(worker->name, options_.shm, options_.event_loops));
    MutexLock loop(&loop_mu_);
    client->UseEventLoop(event_loop_);
    WriterLock lock(&mu_);
    worker->client = std::move(client);
  }
  std::vector<int> fds = {worker->client->segment_fd()};
  std::string bells;
  for (int bell : worker->client->doorbell_fds()) {
    bells += (bells.empty() ? "" : ",") + std::to_string(bell);
    fds.push_back(bell);
  }
  std::vector<std::string> argv = {options_.worker_executable,
                                   "serve",
                                   "--shm-fd",
                                   std::to_string(fds[0]),
                                   "--doorbell-fd",
                                   bells,
                                   "--name",
                                   worker->name,
                                   "--execution-threads",
                                   std::to_string(worker->execution_threads)};
  argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
  auto started = processes_->Start(worker->process, [argv, fds](const std::string&) {
    return Result<WorkerCommand>(WorkerCommand{argv, fds});
  });
  return started.ok() ? Status::Ok() : started.status();
}

void ModelGrid::UseEventLoop(server::EventLoop* loop) {
  MutexLock guard(&loop_mu_);
  event_loop_ = loop;
  std::vector<std::shared_ptr<Worker>> workers;
  {
    ReaderLock lock(&mu_);
    for (auto& [name, w] : workers_) {
      if (w->client) workers.push_back(w);
    }
  }
  for (auto& w : workers) w->client->UseEventLoop(loop);
}

void ModelGrid::StopWorker(const std::shared_ptr<Worker>& worker, uint32_t grace_ms) {
  // The client stays until the last reference to the worker goes: a thread may still be
  // looking at it.
  (void)processes_->Stop(worker->process, grace_ms);
}

void ModelGrid::LoadSlot(const std::shared_ptr<Worker>& worker, uint32_t slot,
                         const std::shared_ptr<Model>& m, LoadCallback done) {
  uint64_t budget = 0;
  {
    ReaderLock lock(&mu_);
    budget = WorkerBudget(*worker);
  }
  // The worker's planned budget caps each of its instances (on the CPU the backend rejects
  // requests that would exceed it; on CUDA it is the allocator's fraction).
  ModelInstanceConfig instance = m->instance;
  instance.device = devices_[static_cast<size_t>(worker->device)].runtime;
  instance.memory_limit_bytes = std::max(budget, m->planned_bytes);
  const std::string config = LoadConfigToJson(instance, m->instances_per_device);
  CallTensor t{"config",
               static_cast<uint8_t>(ipc::WireDType::kBytes),
               {static_cast<int64_t>(config.size())},
               config.data(),
               config.size()};
  const std::string device_name = devices_[static_cast<size_t>(worker->device)].name;
  worker->client->Call(static_cast<uint8_t>(ipc::Op::kLoad), slot, {t}, 0,
                       [this, m, device_name, done = std::move(done)](Result<Reply> r) {
                         if (!r.ok()) return done(r.status());
                         auto j = nlohmann::json::parse(r->text, nullptr, false);
                         // One instance's peak is what the store keeps; the model's is all its
                         // instances'.
                         const uint64_t peak =
                             j.is_object() ? j.value("peak_bytes", uint64_t{0}) : 0;
                         const uint64_t all = peak * static_cast<uint64_t>(m->instances_per_device);
                         m->measured_peak_bytes = all;
                         if (peak > 0 && !m->digest.empty()) {
                           const FootprintKey key = FootprintKeyFor(*m, device_name);
                           if (Status st = store_->Put(key, peak); !st.ok())
                             log_("warning: " + st.message());
                         }
                         done(all);
                       });
}

std::shared_ptr<ModelGrid::Placement> ModelGrid::Route(const Model& m) {
  std::shared_ptr<Placement> best;
  for (const auto& p : m.placements) {
    if (!p->worker->client || !p->worker->client->up()) continue;
    if (!best || p->requests.count() < best->requests.count()) best = p;
  }
  if (!best && !m.placements.empty()) best = m.placements.front();
  return best;
}

bool ModelGrid::OtherInstanceUp(const Model& m, const Worker* except) {
  for (const auto& p : m.placements) {
    if (p->worker.get() != except && p->worker->client && p->worker->client->up()) return true;
  }
  return false;
}

uint64_t ModelGrid::WorkerBudget(const Worker& worker) {
  SharedWorkerBudget budget;  // a worker of its own reuses nothing: no transient part
  for (const auto& [slot, m] : worker.slots) {
    budget.Add(m->planned_bytes, worker.isolated ? 0 : m->transient_bytes);
  }
  return budget.bytes();
}

void ModelGrid::OnWorkerStarted(const std::string& process) {
  std::shared_ptr<Worker> worker;
  std::map<uint32_t, std::shared_ptr<Model>> slots;
  {
    ReaderLock lock(&mu_);
    worker = FindWorkerProcess(process);
    if (!worker || !worker->client) return;
    slots = worker->slots;
  }
  worker->client->MarkUp();
  worker->loaded_once = true;
  // (Re)loads every instance the worker hosts; the model becomes ready when the slot is
  // its current placement (a slot being loaded for a move becomes ready when it switches).
  for (auto& [slot, m] : slots) {
    const auto started = std::chrono::steady_clock::now();
    // The callback runs on the worker client's thread: it must not hold the worker.
    const Worker* self = worker.get();
    LoadSlot(worker, slot, m, [this, self, slot = slot, m = m, started](Result<uint64_t> peak) {
      bool current = false;
      {
        ReaderLock lock(&mu_);
        for (const auto& p : m->placements) {
          current = current || (p->worker.get() == self && p->slot == slot);
        }
      }
      if (!current) return;
      if (!peak.ok()) {
        {
          MutexLock lock(&m->stats_mu);
          m->failure = peak.status().message();
        }
        MoveState(*m, peak.status().code() == StatusCode::kUnavailable ? ModelState::kUnavailable
                                                                       : ModelState::kFailed);
        log_("model " + m->served.name + " failed to load: " + peak.status().message());
        return;
      }
      // Refused, and rightly, when an unload began meanwhile: the model stays UNLOADING.
      if (!m->state.Transition(ModelState::kReady).ok()) return;
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      char line[256];
      std::snprintf(line, sizeof line, "model %s ready in %.2f s (warm-up peak %s, planned %s%s)",
                    m->served.name.c_str(), seconds, MiB(*peak).c_str(),
                    MiB(m->planned_bytes).c_str(),
                    m->planned_from_measurement ? ", measured earlier" : ", estimated");
      log_(line);
    });
  }
}

void ModelGrid::OnExit(const std::string& process, int exit_code, int exit_status,
                       bool will_restart) {
  std::shared_ptr<Worker> worker;
  {
    ReaderLock lock(&mu_);
    worker = FindWorkerProcess(process);
    if (!worker) return;  // a worker already replaced: nothing of it is left to fail
  }
  const std::string& name = worker->name;
  const std::string why = exit_code == CLD_EXITED ? "exit status " + std::to_string(exit_status)
                                                  : "signal " + std::to_string(exit_status);
  // Its calls fail now and requests stop choosing it; a model with a live instance
  // elsewhere stays ready.
  if (worker->client) worker->client->OnWorkerExit(why);
  {
    ReaderLock lock(&mu_);
    for (const auto& [slot, m] : worker->slots) {
      bool here = false;
      for (const auto& p : m->placements) here = here || p->worker == worker;
      // An unloading model stays UNLOADING (the transition is refused).
      if (here && !OtherInstanceUp(*m, worker.get())) {
        (void)m->state.Transition(ModelState::kUnavailable);
      }
    }
  }
  if (will_restart) ++worker_restarts_;
  if (!stopping_) {
    log_("worker " + name + " exited (" + why + ")" + (will_restart ? "; restarting" : ""));
  }
}

void ModelGrid::Watchdog() {
  while (!stopping_) {
    std::this_thread::sleep_for(kWatchdogTick);
    std::vector<std::shared_ptr<Worker>> workers;
    {
      ReaderLock lock(&mu_);
      for (auto& [name, w] : workers_) workers.push_back(w);
    }
    const uint64_t now = ipc::MonotonicNowMs();
    for (auto& worker : workers) {
      if (!worker->client || !worker->client->up()) continue;
      // Silent since its last beat, or since it came up when it has not beaten yet: one
      // timeout of silence, whatever the tick, and a starting worker gets the same grace.
      if (worker->client->SilentMs(now) <= options_.heartbeat_timeout_ms) continue;
      log_("worker " + worker->name + " stopped answering heartbeats for " +
           std::to_string(worker->client->SilentMs(now)) + " ms; killing it");
      // Until its exit is handled the next tick may kill the same dying process again
      // (harmless); its replacement comes up after that, with a fresh grace period.
      (void)processes_->Kill(worker->process);
    }
  }
}

std::shared_ptr<ModelGrid::Worker> ModelGrid::FindWorkerProcess(const std::string& process) const {
  for (const auto& [name, w] : workers_) {
    if (w->process == process) return w;
  }
  return nullptr;
}

void ModelGrid::BeginShutdown() {
  if (processes_) processes_->DisableRestarts();
}

void ModelGrid::Shutdown(uint32_t grace_ms) {
  BeginShutdown();
  if (stopping_.exchange(true)) return;
  control_cv_.NotifyAll();
  if (control_.joinable()) control_.join();
  if (poller_.joinable()) poller_.join();
  // Queued dynamic batches go out (or fail) while their workers still exist.
  std::vector<std::shared_ptr<Model>> models;
  {
    ReaderLock lock(&mu_);
    for (auto& [name, m] : models_) models.push_back(m);
  }
  for (auto& m : models) m->batcher.reset();
  if (watchdog_.joinable()) watchdog_.join();
  if (processes_) {
    for (const auto& name : processes_->Names()) (void)processes_->Stop(name, grace_ms);
    processes_.reset();
  }
}

bool ModelGrid::AllSettled(int* ready, int* total) const {
  ReaderLock lock(&mu_);
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

std::string ModelGrid::PlacementTable() const {
  ReaderLock lock(&mu_);
  std::string out = "placement (" + options_.strategy + "):\n";
  for (const auto& [name, w] : workers_) {
    out += "  " + devices_[static_cast<size_t>(w->device)].label + "  worker " + name +
           (w->isolated ? " (own process)" : " (shared)") + ":";
    for (const auto& [slot, m] : w->slots) {
      out += " " + m->served.name + " [" + MiB(m->planned_bytes) +
             (m->planned_from_measurement ? " measured]" : " estimated]");
    }
    out += "\n";
  }
  for (const auto& [name, why] : unplaced_) out += "  not served: " + name + " (" + why + ")\n";
  if (workers_.empty()) out += "  (no model loaded)\n";
  return out;
}

}  // namespace modelgrid
