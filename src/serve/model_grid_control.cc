// ModelGrid model control: the control thread, the repository API (index, load, unload)
// and the entry points of moves and re-planning. Every change runs on the control thread,
// one at a time, so admission always sees the state the previous change left. See
// model_grid.h.
#include <algorithm>
#include <chrono>
#include <set>
#include <string_view>

#include "plan/planner.h"
#include "serve/model_grid.h"
#include "serve/model_grid_internal.h"
#include "server/json_limits.h"

namespace modelgrid {

using nlohmann::json;

namespace {

// A request body's fields (and "parameters" entries, Triton's) that an endpoint does not
// know are refused (400 naming them), so that nothing a client asks for is ignored.
Status CheckKnownFields(const json& request, std::initializer_list<std::string_view> fields,
                        std::initializer_list<std::string_view> parameters, const char* endpoint) {
  auto known = [](std::initializer_list<std::string_view> list, const std::string& key) {
    return std::find(list.begin(), list.end(), key) != list.end();
  };
  for (const auto& [key, value] : request.items()) {
    if (key == "parameters" && value.is_object()) {
      for (const auto& [name, ignored] : value.items()) {
        if (!known(parameters, name)) {
          return Unsupported(std::string(endpoint) + ": parameter \"" + name +
                             "\" is not supported");
        }
      }
    } else if (!known(fields, key)) {
      return Unsupported(std::string(endpoint) + ": field \"" + key + "\" is not supported");
    }
  }
  return Status::Ok();
}

}  // namespace

void ModelGrid::Control(std::function<void()> task) {
  {
    MutexLock lock(&control_mu_);
    if (!control_stopped_) {
      control_queue_.push_back(std::move(task));
      task = nullptr;
    }
  }
  if (task) return task();  // too late for the thread: the task sees stopping_ and answers
  control_cv_.NotifyOne();
}

void ModelGrid::ControlLoop() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(&control_mu_);
      while (!stopping_ && control_queue_.empty()) control_cv_.Wait(&control_mu_);
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

void ModelGrid::LoadModel(const std::string& model, const json& request, JsonCallback done) {
  if (stopping_ || options_.model_control != ModelControlMode::kExplicit) {
    return done(ControlRefused(options_.model_control, stopping_));
  }
  if (Status st = CheckKnownFields(request, {}, {}, "load"); !st.ok()) return done(st);
  if (!IsValidModelName(model)) return done(InvalidArgument("invalid model name '" + model + "'"));
  Control([this, model, done] { done(stopping_ ? ControlRefused({}, true) : DoLoad(model)); });
}

void ModelGrid::UnloadModel(const std::string& model, const json& request, JsonCallback done) {
  if (stopping_ || options_.model_control != ModelControlMode::kExplicit) {
    return done(ControlRefused(options_.model_control, stopping_));
  }
  // Triton's unload_dependents concerns ensembles, which ModelGrid does not have: a model
  // has no dependents to unload either way.
  if (Status st = CheckKnownFields(request, {}, {"unload_dependents"}, "unload"); !st.ok()) {
    return done(st);
  }
  const json params = request.value("parameters", json::object());
  if (params.contains("unload_dependents") && !params["unload_dependents"].is_boolean()) {
    return done(InvalidArgument("unload_dependents must be a boolean"));
  }
  if (!IsValidModelName(model)) return done(InvalidArgument("invalid model name '" + model + "'"));
  Control([this, model, done] { done(stopping_ ? ControlRefused({}, true) : DoUnload(model)); });
}

void ModelGrid::MoveModel(const std::string& model, const json& request, JsonCallback done) {
  if (stopping_) return done(ControlRefused({}, true));
  if (Status st = CheckKnownFields(request, {"device", "isolation"}, {}, "move"); !st.ok()) {
    return done(st);
  }
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
      return done(
          InvalidArgument("no device " + server::BriefJson(d) + " (see /v2/modelgrid/status)"));
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
  if (Status st = CheckKnownFields(request, {"strategy", "dry_run"}, {}, "replan"); !st.ok()) {
    return done(st);
  }
  Strategy strategy = strategy_;
  if (request.contains("strategy")) {
    if (!request["strategy"].is_string()) return done(InvalidArgument("strategy must be a string"));
    auto parsed = ParseStrategy(request["strategy"].get<std::string>());
    if (!parsed.ok()) return done(parsed.status());
    strategy = *parsed;
  }
  const json dry_run_field = request.value("dry_run", json(false));
  if (!dry_run_field.is_boolean()) return done(InvalidArgument("dry_run must be a boolean"));
  const bool dry_run = dry_run_field.get<bool>();
  Control([this, strategy, dry_run, done] {
    done(stopping_ ? ControlRefused({}, true) : DoReplan(strategy, dry_run));
  });
}

Result<json> ModelGrid::RepositoryIndex(bool ready_only) {
  MG_ASSIGN_OR_RETURN(std::vector<std::string> names, ListRepositoryModels(options_.repository));
  ReaderLock lock(&mu_);
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
      entry["state"] = ModelStateName(s);
      MutexLock stats_lock(&it->second->stats_mu);
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
Result<json> ModelGrid::DoLoad(const std::string& name) {
  std::shared_ptr<Model> current;
  {
    ReaderLock lock(&mu_);
    auto it = models_.find(name);
    if (it != models_.end()) current = it->second;
  }
  const auto started = std::chrono::steady_clock::now();
  auto fresh = ReadModel(name);
  if (!fresh.ok()) {
    WriterLock lock(&mu_);
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
    WriterLock lock(&mu_);
    unplaced_.erase(name);
    models_[name] = m;  // LOADING until placed: requests get 503, the index shows it
  }
  std::vector<std::string> notes;
  auto placed = LoadInstances(m, &notes);
  if (!placed.ok()) {
    WriterLock lock(&mu_);
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
    WriterLock lock(&mu_);
    m->placements = *placed;
    models_[name] = m;
    for (const auto& p : m->placements) {
      instances.push_back({{"worker", p->worker->name},
                           {"device", devices_[static_cast<size_t>(p->worker->device)].label}});
    }
    new_worker = m->placements.front()->worker->slots.size() == 1;
  }
  MoveState(*m, ModelState::kReady);
  int64_t freed = -1;
  if (current) {
    // The new instances serve from here on; the old ones finish what they have.
    MoveState(*current, ModelState::kUnloading);
    current->requests.Close();
    current->requests.WaitUntilIdle();
    std::vector<std::shared_ptr<Placement>> old;
    {
      WriterLock lock(&mu_);
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
              {"instances_per_device", m->instances_per_device},
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
    ReaderLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) {
      return NotFound("model '" + name + "' is not loaded");
    }
    m = it->second;
  }
  MoveState(*m, ModelState::kUnloading);
  // New requests now get 503; those accepted before finish (queued ones included).
  m->requests.Close();
  m->requests.WaitUntilIdle();  // the last request's ticket ends the wait
  std::vector<std::shared_ptr<Placement>> placements;
  {
    WriterLock lock(&mu_);
    models_.erase(name);
    placements = std::move(m->placements);
  }
  const std::string worker = placements.empty() ? "" : placements.front()->worker->name;
  // -1 when unknown (an optional here trips a false -Wmaybe-uninitialized in g++ 12).
  int64_t freed = -1;
  json stopped = json::array();
  for (const auto& p : placements) {
    if (auto bytes = Release(p)) freed = std::max<int64_t>(freed, 0) + static_cast<int64_t>(*bytes);
    ReaderLock lock(&mu_);
    if (workers_.count(p->worker->name) == 0) stopped.push_back(p->worker->name);
  }
  const bool worker_stopped = !stopped.empty();
  log_("model " + name + " unloaded" + (worker_stopped ? "; worker " + worker + " stopped" : "") +
       "; " + (freed >= 0 ? std::to_string(freed >> 20) + " MiB" : "unknown memory") + " returned");
  json out = {{"model", name},
              {"state", "UNAVAILABLE"},
              {"reason", "unloaded"},
              {"drained", true},  // always, now: the unload waits for the last request
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
}  // namespace modelgrid
