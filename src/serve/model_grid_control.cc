// ModelGrid model control: the repository API (index, load, unload), moves, re-planning
// and poll mode. Every change runs on the control thread, one at a time, so admission
// always sees the state the previous change left. See model_grid.h.
#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

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
  // Admission: a new model anywhere; a changed one next to its current instance (which
  // keeps serving until the new one is ready).
  AdmissionRequest ask{name,         m->planned_bytes, m->transient_bytes,
                       m->isolation, strategy_,        std::nullopt};
  std::optional<int> current_device;
  {
    std::shared_lock lock(mu_);
    if (current && current->placement) current_device = current->placement->worker->device;
  }
  std::vector<DeviceState> states = DeviceStates();
  Result<Admission> admitted = Admit(ask, states);
  if (!admitted.ok()) {
    std::unique_lock lock(mu_);
    if (!current) unplaced_[name] = admitted.status().message();
    log_("load of " + name + " refused: " + admitted.status().message());
    return admitted.status();
  }
  if (!current) {
    std::unique_lock lock(mu_);
    unplaced_.erase(name);
    models_[name] = m;  // LOADING until placed: requests get 503, the index shows it
  }
  auto placement = LoadPlaced(m, *admitted);
  if (!placement.ok()) {
    std::unique_lock lock(mu_);
    if (!current) {
      models_.erase(name);
      unplaced_[name] = placement.status().message();
    }
    log_("load of " + name + " failed: " + placement.status().message());
    return placement.status();
  }
  AttachBatcher(m);
  {
    std::unique_lock lock(mu_);
    m->placement = *placement;
    models_[name] = m;
  }
  m->state = ModelState::kReady;
  std::optional<uint64_t> freed;
  if (current) {
    // The new instance serves from here on; the old one finishes what it has.
    current->state = ModelState::kUnloading;
    WaitFor([&] { return current->admitted.load() == 0; }, kDrainTimeout);
    std::shared_ptr<Placement> old;
    {
      std::unique_lock lock(mu_);
      old = std::move(current->placement);
    }
    if (old) freed = Release(old);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const Device& d = devices_[static_cast<size_t>(admitted->device)];
  log_("model " + name + (current ? " reloaded" : " loaded") + " on " + d.label + " in worker " +
       (*placement)->worker->name + " (warm-up peak " +
       std::to_string(m->measured_peak_bytes.load() >> 20) + " MiB, planned " +
       std::to_string(m->planned_bytes >> 20) + " MiB)");
  return json{{"model", name},
              {"version", std::to_string(m->served.version)},
              {"state", "READY"},
              {"changed", current != nullptr},
              {"device", d.label},
              {"worker", (*placement)->worker->name},
              {"new_worker", admitted->new_worker},
              {"estimated_bytes", m->estimated_bytes},
              {"planned_bytes", m->planned_bytes},
              {"planned_from", m->planned_from_measurement ? "measurement" : "estimate"},
              {"measured_peak_bytes", m->measured_peak_bytes.load()},
              {"replaced_freed_bytes", Bytes(freed)},
              {"load_seconds", seconds}};
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
  std::shared_ptr<Placement> placement;
  {
    std::unique_lock lock(mu_);
    models_.erase(name);
    placement = std::move(m->placement);
  }
  const std::string worker = placement ? placement->worker->name : "";
  // -1 when unknown (an optional here trips a false -Wmaybe-uninitialized in g++ 12).
  int64_t freed = -1;
  if (placement) {
    if (auto bytes = Release(placement)) freed = static_cast<int64_t>(*bytes);
  }
  bool worker_stopped = false;
  {
    std::shared_lock lock(mu_);
    worker_stopped = !worker.empty() && workers_.count(worker) == 0;
  }
  log_("model " + name + " unloaded" + (worker_stopped ? "; worker " + worker + " stopped" : "") +
       "; " + (freed >= 0 ? std::to_string(freed >> 20) + " MiB" : "unknown memory") + " returned");
  json out = {{"model", name},
              {"state", "UNAVAILABLE"},
              {"reason", "unloaded"},
              {"drained", drained},
              {"worker", worker},
              {"worker_stopped", worker_stopped},
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
    from = m->placement;
  }
  if (!from || m->state != ModelState::kReady) {
    return Status(StatusCode::kUnavailable, "model '" + name + "' is not ready to move");
  }
  const int target = device.value_or(from->worker->device);
  const Isolation iso =
      isolation.value_or(from->worker->isolated ? Isolation::kProcess : Isolation::kShared);
  if (target == from->worker->device && iso == Isolation::kShared && !from->worker->isolated) {
    return InvalidArgument("model '" + name + "' is already in the shared worker of " +
                           devices_[static_cast<size_t>(target)].label);
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
    m->placement = *to;
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
  std::map<std::string, int> current_device;
  int workers_before = 0;
  {
    std::shared_lock lock(mu_);
    workers_before = static_cast<int>(workers_.size());
    for (const auto& [name, m] : models_) {
      if (m->state != ModelState::kReady || !m->placement) continue;
      ModelRequest r;
      r.name = name;
      r.footprint_bytes = m->planned_bytes;
      r.transient_bytes = std::min(m->transient_bytes, m->planned_bytes);
      r.isolation = m->isolation;
      r.latency_sensitive = m->latency_sensitive;
      requests.push_back(r);
      current_device[name] = m->placement->worker->device;
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
  std::vector<std::pair<std::string, int>> moves;
  int devices_after = 0;
  for (const PlannedGpu& g : plan.gpus) {
    devices_after += !g.workers.empty();
    const int device = device_of_plan_gpu.count(g.index) ? device_of_plan_gpu[g.index] : g.index;
    for (const auto& w : g.workers) {
      for (const auto& model : w.models) {
        if (current_device[model] != device) moves.push_back({model, device});
      }
    }
  }
  std::set<int> devices_before;
  for (const auto& [name, d] : current_device) devices_before.insert(d);
  result["devices_before"] = devices_before.size();
  result["devices_after"] = devices_after;
  result["workers_after"] = plan.contexts;
  json planned = json::array();
  for (const auto& [model, device] : moves) {
    planned.push_back({{"model", model}, {"device", devices_[static_cast<size_t>(device)].label}});
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
  std::vector<std::pair<std::string, int>> pending = moves;
  bool progress = true;
  std::map<std::string, std::string> last_error;
  while (!pending.empty() && progress && !stopping_) {
    progress = false;
    std::vector<std::pair<std::string, int>> next;
    for (const auto& [model, device] : pending) {
      auto r = DoMove(model, device, std::nullopt);
      if (r.ok()) {
        moved.push_back(*r);
        progress = true;
      } else {
        last_error[model] = r.status().message();
        next.push_back({model, device});
      }
    }
    pending = std::move(next);
  }
  for (const auto& [model, device] : pending) {
    failed.push_back({{"model", model}, {"error", last_error[model]}});
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
