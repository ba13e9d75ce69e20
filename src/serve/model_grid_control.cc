// ModelGrid model control: the repository API (index, load, unload), moves, re-planning
// and poll mode. Every change runs on the control thread, one at a time, so admission
// always sees the state the previous change left. See model_grid.h.
#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "ipc/heartbeat.h"
#include "ipc/shm_layout.h"
#include "plan/planner.h"
#include "serve/model_grid.h"

namespace modelgrid {

namespace {

using nlohmann::json;

constexpr auto kLoadTimeout = std::chrono::minutes(10);
constexpr auto kDrainTimeout = std::chrono::seconds(120);

// Waits until `done()` holds, polling; false after `timeout`.
template <typename Pred>
bool WaitFor(Pred done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

json Bytes(std::optional<uint64_t> b) { return b ? json(*b) : json(nullptr); }

const char* StateName(ModelState s) {
  switch (s) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kFailed:
      return "FAILED";
  }
  return "UNAVAILABLE";
}

}  // namespace

void ModelGrid::Control(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (!control_stopped_) {
      control_queue_.push_back(std::move(task));
      task = nullptr;
    }
  }
  if (task) return task();  // too late for the thread: the task sees stopping_ and answers
  control_cv_.notify_one();
}

void ModelGrid::ControlLoop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(control_mu_);
      control_cv_.wait(lock, [&] { return stopping_ || !control_queue_.empty(); });
      if (control_queue_.empty()) {
        control_stopped_ = true;
        return;
      }
      task = std::move(control_queue_.front());
      control_queue_.pop_front();
    }
    task();  // a task started before shutdown sees stopping_ and answers 503
  }
}

namespace {

// The answer to a control request that arrives while stopping or in the wrong mode.
Status ControlRefused(ModelControlMode mode, bool stopping) {
  if (stopping) return Status(StatusCode::kUnavailable, "the server is shutting down");
  return InvalidArgument(std::string("model control mode is '") + ModelControlModeName(mode) +
                         "': loading and unloading through the API needs "
                         "--model-control-mode=explicit");
}

}  // namespace

void ModelGrid::LoadModel(const std::string& model, const json&, JsonCallback done) {
  if (stopping_ || options_.model_control != ModelControlMode::kExplicit) {
    return done(ControlRefused(options_.model_control, stopping_));
  }
  if (!IsValidModelName(model)) return done(InvalidArgument("invalid model name '" + model + "'"));
  Control([this, model, done] { done(stopping_ ? ControlRefused({}, true) : DoLoad(model)); });
}

void ModelGrid::UnloadModel(const std::string& model, const json&, JsonCallback done) {
  if (stopping_ || options_.model_control != ModelControlMode::kExplicit) {
    return done(ControlRefused(options_.model_control, stopping_));
  }
  if (!IsValidModelName(model)) return done(InvalidArgument("invalid model name '" + model + "'"));
  Control([this, model, done] { done(stopping_ ? ControlRefused({}, true) : DoUnload(model)); });
}

void ModelGrid::MoveModel(const std::string& model, const json& request, JsonCallback done) {
  if (stopping_) return done(ControlRefused({}, true));
  std::optional<int> device;
  std::optional<Isolation> isolation;
  if (request.contains("device")) {
    const json& d = request["device"];
    for (const Device& dev : devices_) {
      if ((d.is_number_integer() && d.get<int>() == dev.index) ||
          (d.is_string() && d.get<std::string>() == dev.label)) {
        device = dev.index;
      }
    }
    if (!device)
      return done(InvalidArgument("no device " + d.dump() + " (see /v2/modelgrid/status)"));
  }
  if (request.contains("isolation")) {
    const json& i = request["isolation"];
    if (i == "shared") {
      isolation = Isolation::kShared;
    } else if (i == "process") {
      isolation = Isolation::kProcess;
    } else {
      return done(InvalidArgument("isolation must be \"shared\" or \"process\""));
    }
  }
  Control([this, model, device, isolation, done] {
    done(stopping_ ? ControlRefused({}, true) : DoMove(model, device, isolation));
  });
}

void ModelGrid::Replan(const json& request, JsonCallback done) {
  if (stopping_) return done(ControlRefused({}, true));
  Strategy strategy = strategy_;
  if (request.contains("strategy")) {
    if (!request["strategy"].is_string()) return done(InvalidArgument("strategy must be a string"));
    auto parsed = ParseStrategy(request["strategy"].get<std::string>());
    if (!parsed.ok()) return done(parsed.status());
    strategy = *parsed;
  }
  const bool dry_run = request.value("dry_run", false);
  Control([this, strategy, dry_run, done] {
    done(stopping_ ? ControlRefused({}, true) : DoReplan(strategy, dry_run));
  });
}

Result<json> ModelGrid::RepositoryIndex(bool ready_only) {
  MG_ASSIGN_OR_RETURN(std::vector<std::string> names, ListRepositoryModels(options_.repository));
  std::shared_lock lock(mu_);
  std::set<std::string> all(names.begin(), names.end());
  for (const auto& [name, m] : models_) all.insert(name);
  json out = json::array();
  for (const auto& name : all) {
    json entry = {{"name", name}};
    auto it = models_.find(name);
    if (it != models_.end()) {
      const ModelState s = it->second->state;
      if (ready_only && s != ModelState::kReady) continue;
      entry["version"] = std::to_string(it->second->served.version);
      entry["state"] = StateName(s);
      std::lock_guard<std::mutex> stats_lock(it->second->stats_mu);
      entry["reason"] = s == ModelState::kReady ? "" : it->second->failure;
    } else {
      if (ready_only) continue;
      auto why = unplaced_.find(name);
      entry["state"] = "UNAVAILABLE";
      entry["reason"] = why == unplaced_.end() ? "unloaded" : why->second;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<DeviceState> ModelGrid::DeviceStates(const Usage& usage) const {
  std::vector<DeviceState> states;
  for (const Device& d : devices_) {
    DeviceState s;
    s.index = d.index;
    s.label = d.label;
    s.capacity_bytes = d.capacity_bytes;
    s.context_bytes = d.context_bytes;
    states.push_back(std::move(s));
  }
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, w] : workers_) {
      DeviceState& s = states[static_cast<size_t>(w->device)];
      s.planned_bytes += s.context_bytes + WorkerBudget(*w);
      if (!w->isolated) {
        s.has_shared_worker = true;
        for (const auto& [slot, m] : w->slots) {
          s.shared_transient_bytes =
              std::max(s.shared_transient_bytes, std::min(m->transient_bytes, m->planned_bytes));
        }
      }
    }
  }
  for (DeviceState& s : states) s.measured_free_bytes = MeasuredFreeBytes(s.index, usage);
  return states;
}

Result<std::shared_ptr<ModelGrid::Placement>> ModelGrid::LoadPlaced(const std::shared_ptr<Model>& m,
                                                                    const Admission& admission) {
  std::shared_ptr<Worker> worker;
  bool fresh = false;
  {
    std::unique_lock lock(mu_);
    if (!admission.new_worker) {
      for (auto& [name, w] : workers_) {
        if (w->device == admission.device && !w->isolated) worker = w;
      }
    }
    if (!worker) {
      worker = NewWorker(admission.device, m->isolation == Isolation::kProcess, m->served.name);
      workers_[worker->name] = worker;
      fresh = true;
    }
  }
  auto forget_worker = [&] {
    if (!fresh) return;
    StopWorker(worker, 2000);
    std::unique_lock lock(mu_);
    workers_.erase(worker->name);
  };
  if (fresh) {
    if (Status st = StartWorker(worker); !st.ok()) {
      forget_worker();
      return st;
    }
    const bool up =
        WaitFor([&] { return worker->loaded_once.load() || stopping_; }, std::chrono::seconds(60));
    if (!up || stopping_) {
      forget_worker();
      return Status(StatusCode::kUnavailable, "worker " + worker->name + " did not start");
    }
  }
  auto placement = std::make_shared<Placement>();
  placement->worker = worker;
  {
    std::unique_lock lock(mu_);
    uint32_t slot = 0;
    while (worker->slots.count(slot)) ++slot;
    placement->slot = slot;
    worker->slots[slot] = m;
  }
  m->instance.device = devices_[static_cast<size_t>(admission.device)].runtime;
  auto promise = std::make_shared<std::promise<Result<uint64_t>>>();
  auto future = promise->get_future();
  LoadSlot(worker, placement->slot, m, [promise](Result<uint64_t> r) { promise->set_value(r); });
  Result<uint64_t> loaded =
      future.wait_for(kLoadTimeout) == std::future_status::ready
          ? future.get()
          : Result<uint64_t>(Status(StatusCode::kUnavailable, "the load timed out"));
  if (!loaded.ok()) {
    {
      std::unique_lock lock(mu_);
      worker->slots.erase(placement->slot);
    }
    forget_worker();
    return loaded.status();
  }
  return placement;
}

std::optional<uint64_t> ModelGrid::Release(const std::shared_ptr<Placement>& placement) {
  if (!WaitFor([&] { return placement->in_flight.load() == 0; }, kDrainTimeout)) {
    log_("warning: requests still in flight on worker " + placement->worker->name +
         " after 120 s; unloading anyway");
  }
  const std::shared_ptr<Worker>& worker = placement->worker;
  const std::optional<uint64_t> before = WorkerMemoryBytes(*worker, MeasureUsage());
  bool last = false;
  {
    std::unique_lock lock(mu_);
    worker->slots.erase(placement->slot);
    last = worker->slots.empty();
    if (last) workers_.erase(worker->name);
  }
  if (last) {
    // Nothing left in it: the whole process, and its context, goes back.
    StopWorker(worker, 5000);
    return before;
  }
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  worker->client->Call(static_cast<uint8_t>(ipc::Op::kUnload), placement->slot, {}, 0,
                       [promise](Result<Reply> r) { promise->set_value(r.status()); });
  if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    log_("warning: worker " + worker->name + " did not confirm an unload");
  }
  const std::optional<uint64_t> after = WorkerMemoryBytes(*worker, MeasureUsage());
  if (!before || !after) return std::nullopt;
  return *before > *after ? *before - *after : 0;
}

Result<json> ModelGrid::DoLoad(const std::string& name) {
  std::shared_ptr<Model> current;
  {
    std::shared_lock lock(mu_);
    auto it = models_.find(name);
    if (it != models_.end()) current = it->second;
  }
  const auto started = std::chrono::steady_clock::now();
  auto fresh = ReadModel(name);
  if (!fresh.ok()) {
    std::unique_lock lock(mu_);
    if (!current) unplaced_[name] = fresh.status().message();
    return fresh.status();
  }
  std::shared_ptr<Model> m = std::move(fresh).value();
  if (current && current->signature == m->signature && current->state == ModelState::kReady) {
    return json{{"model", name}, {"state", "READY"}, {"changed", false}};
  }
  // Admission and loading, instance by instance. A changed model loads next to its
  // current instances, which keep serving until the new ones are ready.
  if (!current) {
    std::unique_lock lock(mu_);
    unplaced_.erase(name);
    models_[name] = m;  // LOADING until placed: requests get 503, the index shows it
  }
  std::vector<std::string> notes;
  auto placed = LoadInstances(m, &notes);
  if (!placed.ok()) {
    std::unique_lock lock(mu_);
    if (!current) {
      models_.erase(name);
      unplaced_[name] = placed.status().message();
    }
    log_("load of " + name + " refused or failed: " + placed.status().message());
    return placed.status();
  }
  for (const auto& note : notes) log_("warning: model " + name + ": " + note);
  AttachBatcher(m);
  json instances = json::array();
  bool new_worker = false;
  {
    std::unique_lock lock(mu_);
    m->placements = *placed;
    models_[name] = m;
    for (const auto& p : m->placements) {
      instances.push_back({{"worker", p->worker->name},
                           {"device", devices_[static_cast<size_t>(p->worker->device)].label}});
    }
    new_worker = m->placements.front()->worker->slots.size() == 1;
  }
  m->state = ModelState::kReady;
  int64_t freed = -1;
  if (current) {
    // The new instances serve from here on; the old ones finish what they have.
    current->state = ModelState::kUnloading;
    WaitFor([&] { return current->admitted.load() == 0; }, kDrainTimeout);
    std::vector<std::shared_ptr<Placement>> old;
    {
      std::unique_lock lock(mu_);
      old = std::move(current->placements);
    }
    for (const auto& p : old) {
      if (auto bytes = Release(p))
        freed = std::max<int64_t>(freed, 0) + static_cast<int64_t>(*bytes);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log_("model " + name + (current ? " reloaded" : " loaded") + ": " + instances.dump() +
       " (warm-up peak " + std::to_string(m->measured_peak_bytes.load() >> 20) + " MiB, planned " +
       std::to_string(m->planned_bytes >> 20) + " MiB)");
  return json{{"model", name},
              {"version", std::to_string(m->served.version)},
              {"state", "READY"},
              {"changed", current != nullptr},
              {"device", instances[0]["device"]},
              {"worker", instances[0]["worker"]},
              {"new_worker", new_worker},
              {"instances", instances},
              {"instances_wanted", m->instances},
              {"notes", notes},
              {"estimated_bytes", m->estimated_bytes},
              {"planned_bytes", m->planned_bytes},
              {"planned_from", m->planned_from_measurement ? "measurement" : "estimate"},
              {"measured_peak_bytes", m->measured_peak_bytes.load()},
              {"replaced_freed_bytes", freed >= 0 ? json(freed) : json(nullptr)},
              {"load_seconds", seconds}};
}

Result<std::vector<std::shared_ptr<ModelGrid::Placement>>> ModelGrid::LoadInstances(
    const std::shared_ptr<Model>& m, std::vector<std::string>* notes) {
  std::vector<std::shared_ptr<Placement>> placed;
  std::set<int> used;  // instances go to distinct devices
  for (int k = 0; k < m->instances && !stopping_; ++k) {
    std::vector<DeviceState> states = DeviceStates();
    std::erase_if(states, [&](const DeviceState& d) { return used.count(d.index) > 0; });
    Status why;
    if (states.empty()) {
      why = ResourceExhausted("every device already holds an instance of model " + m->served.name);
    } else {
      AdmissionRequest ask{m->served.name, m->planned_bytes, m->transient_bytes,
                           m->isolation,   strategy_,        std::nullopt};
      Result<Admission> admitted = Admit(ask, states);
      if (admitted.ok()) {
        auto p = LoadPlaced(m, *admitted);
        if (p.ok()) {
          placed.push_back(*p);
          used.insert(admitted->device);
          continue;
        }
        why = p.status();
      } else {
        why = admitted.status();
      }
    }
    if (placed.empty()) return why;
    notes->push_back("serving " + std::to_string(placed.size()) + " of " +
                     std::to_string(m->instances) + " instances: " + why.message());
    break;
  }
  if (placed.empty()) return Status(StatusCode::kUnavailable, "the server is shutting down");
  return placed;
}

Result<json> ModelGrid::DoUnload(const std::string& name) {
  std::shared_ptr<Model> m;
  {
    std::shared_lock lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) {
      return NotFound("model '" + name + "' is not loaded");
    }
    m = it->second;
  }
  m->state = ModelState::kUnloading;
  // New requests now get 503; those accepted before finish (queued ones included).
  const bool drained = WaitFor([&] { return m->admitted.load() == 0; }, kDrainTimeout);
  std::vector<std::shared_ptr<Placement>> placements;
  {
    std::unique_lock lock(mu_);
    models_.erase(name);
    placements = std::move(m->placements);
  }
  const std::string worker = placements.empty() ? "" : placements.front()->worker->name;
  // -1 when unknown (an optional here trips a false -Wmaybe-uninitialized in g++ 12).
  int64_t freed = -1;
  json stopped = json::array();
  for (const auto& p : placements) {
    if (auto bytes = Release(p)) freed = std::max<int64_t>(freed, 0) + static_cast<int64_t>(*bytes);
    std::shared_lock lock(mu_);
    if (workers_.count(p->worker->name) == 0) stopped.push_back(p->worker->name);
  }
  const bool worker_stopped = !stopped.empty();
  log_("model " + name + " unloaded" + (worker_stopped ? "; worker " + worker + " stopped" : "") +
       "; " + (freed >= 0 ? std::to_string(freed >> 20) + " MiB" : "unknown memory") + " returned");
  json out = {{"model", name},
              {"state", "UNAVAILABLE"},
              {"reason", "unloaded"},
              {"drained", drained},
              {"worker", worker},
              {"worker_stopped", worker_stopped},
              {"stopped_workers", stopped},
              {"planned_bytes", m->planned_bytes},
              {"freed_bytes", freed >= 0 ? json(freed) : json(nullptr)}};
  if (options_.replan_fragmentation > 0) {
    const double fragmentation = Fragmentation(DeviceStates());
    if (fragmentation >= options_.replan_fragmentation) {
      log_("fragmentation " + std::to_string(fragmentation) +
           " reached the threshold; re-planning");
      auto replan = DoReplan(strategy_, false);
      out["replan"] = replan.ok() ? *replan : json{{"error", replan.status().message()}};
    }
  }
  return out;
}

Result<json> ModelGrid::DoMove(const std::string& name, std::optional<int> device,
                               std::optional<Isolation> isolation) {
  std::shared_ptr<Model> m;
  std::shared_ptr<Placement> from;
  {
    std::shared_lock lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFound("model '" + name + "' is not loaded");
    m = it->second;
    // With several instances, the first one not already on the target moves.
    for (const auto& p : m->placements) {
      if (!from || (device && from->worker->device == *device && p->worker->device != *device)) {
        from = p;
      }
    }
  }
  if (!from || m->state != ModelState::kReady) {
    return Status(StatusCode::kUnavailable, "model '" + name + "' is not ready to move");
  }
  const int target = device.value_or(from->worker->device);
  const Isolation iso =
      isolation.value_or(from->worker->isolated ? Isolation::kProcess : Isolation::kShared);
  return MoveInstance(m, from, target, iso);
}

Result<json> ModelGrid::MoveInstance(const std::shared_ptr<Model>& m,
                                     const std::shared_ptr<Placement>& from, int target,
                                     Isolation iso) {
  const std::string& name = m->served.name;
  if (target == from->worker->device && iso == Isolation::kShared && !from->worker->isolated) {
    return InvalidArgument("model '" + name + "' is already in the shared worker of " +
                           devices_[static_cast<size_t>(target)].label);
  }
  {
    std::shared_lock lock(mu_);
    for (const auto& p : m->placements) {
      if (p != from && p->worker->device == target) {
        return InvalidArgument("model '" + name + "' already has an instance on " +
                               devices_[static_cast<size_t>(target)].label);
      }
    }
  }
  const Isolation saved = m->isolation;
  m->isolation = iso;
  AdmissionRequest ask{name, m->planned_bytes, m->transient_bytes, iso, strategy_, target};
  Result<Admission> admitted = Admit(ask, DeviceStates());
  if (!admitted.ok()) {
    m->isolation = saved;
    return admitted.status();
  }
  const auto started = std::chrono::steady_clock::now();
  auto to = LoadPlaced(m, *admitted);
  if (!to.ok()) {
    m->isolation = saved;
    return to.status();
  }
  // Switch: requests from now on go to the new instance; those sent before finish on the
  // old one, which is released only then.
  {
    std::unique_lock lock(mu_);
    std::replace(m->placements.begin(), m->placements.end(), from, *to);
  }
  const std::string from_worker = from->worker->name;
  const std::string from_device = devices_[static_cast<size_t>(from->worker->device)].label;
  const std::optional<uint64_t> freed = Release(from);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string to_device = devices_[static_cast<size_t>(target)].label;
  log_("model " + name + " moved from " + from_worker + " (" + from_device + ") to " +
       (*to)->worker->name + " (" + to_device + ")");
  return json{{"model", name},
              {"from", {{"device", from_device}, {"worker", from_worker}}},
              {"to", {{"device", to_device}, {"worker", (*to)->worker->name}}},
              {"freed_bytes", Bytes(freed)},
              {"seconds", seconds}};
}

Result<json> ModelGrid::DoReplan(Strategy strategy, bool dry_run) {
  // The live models, as the planner sees them.
  std::vector<ModelRequest> requests;
  std::map<std::string, int> current_device;  // instance name ("m", "m#2") -> device
  std::map<std::string, std::shared_ptr<Model>> live;
  int workers_before = 0;
  {
    std::shared_lock lock(mu_);
    workers_before = static_cast<int>(workers_.size());
    for (const auto& [name, m] : models_) {
      if (m->state != ModelState::kReady || m->placements.empty()) continue;
      ModelRequest r;
      r.name = name;
      r.footprint_bytes = m->planned_bytes;
      r.transient_bytes = std::min(m->transient_bytes, m->planned_bytes);
      r.isolation = m->isolation;
      r.latency_sensitive = m->latency_sensitive;
      r.replicas = static_cast<int>(m->placements.size());
      for (int k = 0; k < r.replicas; ++k) {
        current_device[InstanceName(r, k)] = m->placements[static_cast<size_t>(k)]->worker->device;
      }
      requests.push_back(r);
      live[name] = m;
    }
  }
  const double fragmentation_before = Fragmentation(DeviceStates());
  json result = {{"strategy", StrategyName(strategy)},
                 {"dry_run", dry_run},
                 {"fragmentation_before", fragmentation_before},
                 {"workers_before", workers_before}};
  PlanOptions plan_options;
  plan_options.strategy = strategy;
  MG_ASSIGN_OR_RETURN(Plan plan, MakePlan(requests, PlanDevices(), plan_options));
  // Plan GPUs are interchangeable when their capacities match: map each to the live device
  // that already holds most of its bytes, so as few models move as possible.
  std::map<int, int> device_of_plan_gpu;
  std::set<int> taken;
  std::vector<std::pair<uint64_t, std::pair<int, int>>> overlaps;  // bytes, (plan gpu, device)
  for (const PlannedGpu& g : plan.gpus) {
    std::map<int, uint64_t> here;
    for (const auto& w : g.workers) {
      for (size_t i = 0; i < w.models.size(); ++i)
        here[current_device[w.models[i]]] += w.model_bytes[i];
    }
    for (const Device& d : devices_) {
      if (d.capacity_bytes != g.capacity_bytes) continue;
      overlaps.push_back({here.count(d.index) ? here[d.index] : 0, {g.index, d.index}});
    }
  }
  std::stable_sort(overlaps.begin(), overlaps.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [bytes, pair] : overlaps) {
    if (device_of_plan_gpu.count(pair.first) || taken.count(pair.second)) continue;
    device_of_plan_gpu[pair.first] = pair.second;
    taken.insert(pair.second);
  }
  // Per model, the devices the plan wants its instances on; instances already on one of
  // them stay, the others move to the rest.
  std::map<std::string, std::multiset<int>> wanted;
  int devices_after = 0;
  for (const PlannedGpu& g : plan.gpus) {
    devices_after += !g.workers.empty();
    const int device = device_of_plan_gpu.count(g.index) ? device_of_plan_gpu[g.index] : g.index;
    for (const auto& w : g.workers) {
      for (const auto& instance : w.models)
        wanted[instance.substr(0, instance.find('#'))].insert(device);
    }
  }
  struct Move {
    std::string model;
    std::shared_ptr<Placement> from;
    int device = 0;
  };
  std::vector<Move> moves;
  {
    std::shared_lock lock(mu_);
    for (auto& [name, devices] : wanted) {
      std::vector<std::shared_ptr<Placement>> movers;
      for (const auto& p : live[name]->placements) {
        auto at = devices.find(p->worker->device);
        if (at != devices.end()) {
          devices.erase(at);
        } else {
          movers.push_back(p);
        }
      }
      auto target = devices.begin();
      for (const auto& p : movers) {
        if (target == devices.end()) break;
        moves.push_back({name, p, *target++});
      }
    }
  }
  std::set<int> devices_before;
  for (const auto& [name, d] : current_device) devices_before.insert(d);
  result["devices_before"] = devices_before.size();
  result["devices_after"] = devices_after;
  result["workers_after"] = plan.contexts;
  json planned = json::array();
  for (const Move& mv : moves) {
    planned.push_back({{"model", mv.model},
                       {"from", devices_[static_cast<size_t>(mv.from->worker->device)].label},
                       {"device", devices_[static_cast<size_t>(mv.device)].label}});
  }
  result["moves"] = planned;
  const bool better =
      devices_after < static_cast<int>(devices_before.size()) || plan.contexts < workers_before;
  if (!better || !plan.unplaced.empty()) {
    result["moves"] = json::array();
    result["note"] = plan.unplaced.empty()
                         ? "the placement is already as good as a fresh plan: nothing to move"
                         : "a fresh plan would not place every live model: nothing moved";
    return result;
  }
  if (dry_run) return result;
  // Moves in passes: one that does not fit yet may fit once others have left its target.
  json moved = json::array(), failed = json::array();
  std::vector<Move> pending = moves;
  bool progress = true;
  std::map<Placement*, std::string> last_error;
  while (!pending.empty() && progress && !stopping_) {
    progress = false;
    std::vector<Move> next;
    for (const Move& mv : pending) {
      const std::shared_ptr<Model>& m = live[mv.model];
      if (m->state != ModelState::kReady) {
        last_error[mv.from.get()] = "the model is no longer ready";
        continue;
      }
      auto r = MoveInstance(m, mv.from, mv.device,
                            mv.from->worker->isolated ? Isolation::kProcess : Isolation::kShared);
      if (r.ok()) {
        moved.push_back(*r);
        progress = true;
      } else {
        last_error[mv.from.get()] = r.status().message();
        next.push_back(mv);
      }
    }
    pending = std::move(next);
  }
  for (const Move& mv : pending) {
    failed.push_back({{"model", mv.model}, {"error", last_error[mv.from.get()]}});
  }
  result["moved"] = moved;
  result["failed"] = failed;
  result["fragmentation_after"] = Fragmentation(DeviceStates());
  {
    std::shared_lock lock(mu_);
    result["workers_after"] = workers_.size();
  }
  return result;
}

void ModelGrid::PollRepository() {
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() < next) continue;
    next = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.poll_interval_ms);
    bool queued = false;
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      queued = sync_queued_;
      sync_queued_ = true;
    }
    if (!queued) {
      Control([this] {
        {
          std::lock_guard<std::mutex> lock(control_mu_);
          sync_queued_ = false;
        }
        if (!stopping_) SyncRepository();
      });
    }
  }
}

void ModelGrid::SyncRepository() {
  auto names = ListRepositoryModels(options_.repository);
  if (!names.ok()) {
    log_("warning: poll: " + names.status().message());
    return;
  }
  std::map<std::string, std::shared_ptr<Model>> loaded;
  {
    std::shared_lock lock(mu_);
    loaded = models_;
  }
  for (const auto& name : *names) {
    if (stopping_) return;
    auto served = ReadServedModel(options_.repository, name);
    const std::string sig =
        served.ok() ? RepositorySignature(options_.repository, name, served->version) : "";
    auto it = loaded.find(name);
    if (it != loaded.end() && it->second->signature == sig) continue;
    auto failed = failed_signature_.find(name);
    if (failed != failed_signature_.end() && failed->second == sig) continue;
    if (DoLoad(name).ok()) {
      failed_signature_.erase(name);
    } else {
      failed_signature_[name] = sig;
    }
  }
  const std::set<std::string> present(names->begin(), names->end());
  for (const auto& [name, m] : loaded) {
    if (!present.count(name) && !stopping_) (void)DoUnload(name);
  }
}

}  // namespace modelgrid
