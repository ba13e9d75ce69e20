// ModelGrid moves and re-planning: an instance moves by loading on the target, switching
// traffic and releasing the source; a re-plan moves what a fresh plan places elsewhere.
// See model_grid.h.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "plan/planner.h"
#include "serve/model_grid.h"
#include "serve/model_grid_internal.h"

namespace modelgrid {

using grid_internal::JsonBytes;
using nlohmann::json;

Result<json> ModelGrid::DoMove(const std::string& name, std::optional<int> device,
                               std::optional<Isolation> isolation) {
  std::shared_ptr<Model> m;
  std::shared_ptr<Placement> from;
  {
    ReaderLock lock(&mu_);
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
  if (iso == Isolation::kShared && m->instances_per_device > 1) {
    return InvalidArgument("model '" + name + "' runs " + std::to_string(m->instances_per_device) +
                           " instances side by side, which needs a worker of its own");
  }
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
    ReaderLock lock(&mu_);
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
    WriterLock lock(&mu_);
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
              {"freed_bytes", JsonBytes(freed)},
              {"seconds", seconds}};
}

Result<json> ModelGrid::DoReplan(Strategy strategy, bool dry_run) {
  // The live models, as the planner sees them.
  std::vector<ModelRequest> requests;
  std::map<std::string, int> current_device;  // instance name ("m", "m#2") -> device
  std::map<std::string, std::shared_ptr<Model>> live;
  int workers_before = 0;
  {
    ReaderLock lock(&mu_);
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
      for (const auto& instance : w.models) wanted[ModelOfInstance(instance)].insert(device);
    }
  }
  struct Move {
    std::string model;
    std::shared_ptr<Placement> from;
    int device = 0;
  };
  std::vector<Move> moves;
  {
    ReaderLock lock(&mu_);
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
    ReaderLock lock(&mu_);
    result["workers_after"] = workers_.size();
  }
  return result;
}
}  // namespace modelgrid
