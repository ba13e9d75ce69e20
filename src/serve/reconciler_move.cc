// The Reconciler's moves and re-planning: an instance moves by loading on the target,
// switching traffic and releasing the source; a re-plan moves what a fresh plan places
// elsewhere (serve/reconcile_diff.h). See reconciler.h.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "plan/planner.h"
#include "serve/devices.h"
#include "serve/reconcile_diff.h"
#include "serve/reconciler.h"

namespace modelgrid {

namespace {
constexpr const char* kNoMovesWithTiers =
    "moves and replans are not supported with --host-cache: the host-memory tier keeps each "
    "model in its device's shared worker";
}  // namespace

Result<MoveResult> Reconciler::Move(const std::string& name, std::optional<int> device,
                                    std::optional<Isolation> isolation) {
  if (tiers_.enabled()) return Unsupported(kNoMovesWithTiers);
  std::shared_ptr<Model> m;
  std::shared_ptr<Placement> from;
  {
    ReaderLock lock(&registry_.mu);
    auto it = registry_.models.find(name);
    if (it == registry_.models.end()) return NotFound("model '" + name + "' is not loaded");
    m = it->second;
    // With several instances, the first one not already on the target moves.
    for (const auto& p : m->placements(registry_.mu)) {
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

Result<MoveResult> Reconciler::MoveInstance(const std::shared_ptr<Model>& m,
                                            const std::shared_ptr<Placement>& from, int target,
                                            Isolation iso) {
  const std::string& name = m->served.name;
  const std::string& target_label = grid_.device(target).label;
  if (target == from->worker->device && iso == Isolation::kShared && !from->worker->isolated) {
    return InvalidArgument("model '" + name + "' is already in the shared worker of " +
                           target_label);
  }
  {
    ReaderLock lock(&registry_.mu);
    for (const auto& p : m->placements(registry_.mu)) {
      if (p != from && p->worker->device == target) {
        return InvalidArgument("model '" + name + "' already has an instance on " + target_label);
      }
    }
  }
  const Isolation saved = m->isolation;
  m->isolation = iso;
  AdmissionRequest ask{name, m->planned_bytes, m->transient_bytes, iso, grid_.strategy, target};
  Result<Admission> admitted = Admit(ask, DeviceStatesNow());
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
    WriterLock lock(&registry_.mu);
    Placements& placements = m->mutable_placements(registry_.mu);
    std::replace(placements.begin(), placements.end(), from, *to);
  }
  // Served again if the source's worker died meanwhile (refused while unloading).
  (void)m->state.Transition(ModelState::kReady);
  MoveResult result;
  result.model = name;
  result.from = {from->worker->name, grid_.device(from->worker->device).label};
  result.to = {(*to)->worker->name, target_label};
  result.freed_bytes = Release(from);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  grid_.log("model " + name + " moved from " + result.from.worker + " (" + result.from.device +
            ") to " + result.to.worker + " (" + result.to.device + ")");
  return result;
}

Result<ReplanResult> Reconciler::Replan(Strategy strategy, bool dry_run) {
  if (tiers_.enabled()) return Unsupported(kNoMovesWithTiers);
  // The live models, as the planner sees them.
  std::vector<ModelRequest> requests;
  std::map<std::string, int> current_device;  // instance name ("m", "m#2") -> device
  std::map<std::string, std::vector<int>> live_devices;
  std::map<std::string, std::shared_ptr<Model>> live;
  std::map<std::string, Placements> live_placements;
  ReplanResult result;
  result.strategy = StrategyName(strategy);
  result.dry_run = dry_run;
  {
    ReaderLock lock(&registry_.mu);
    result.workers_before = registry_.workers.size();
    for (const auto& [name, m] : registry_.models) {
      const Placements& placements = m->placements(registry_.mu);
      if (m->state != ModelState::kReady || placements.empty()) continue;
      ModelRequest r;
      r.name = name;
      r.footprint_bytes = m->planned_bytes;
      r.transient_bytes = std::min(m->transient_bytes, m->planned_bytes);
      r.isolation = m->isolation;
      r.latency_sensitive = m->latency_sensitive;
      r.replicas = static_cast<int>(placements.size());
      for (int k = 0; k < r.replicas; ++k) {
        const int device = placements[static_cast<size_t>(k)]->worker->device;
        current_device[InstanceName(r, k)] = device;
        live_devices[name].push_back(device);
      }
      requests.push_back(r);
      live[name] = m;
      live_placements[name] = placements;
    }
  }
  result.fragmentation_before = Fragmentation(DeviceStatesNow());
  PlanOptions plan_options;
  plan_options.strategy = strategy;
  MG_ASSIGN_OR_RETURN(Plan plan, MakePlan(requests, PlanDevices(grid_.devices), plan_options));
  const std::map<int, int> device_of = MatchPlanGpus(plan, current_device, grid_.devices);
  // Per model, the devices the plan wants its instances on.
  std::map<std::string, std::multiset<int>> wanted;
  for (const PlannedGpu& g : plan.gpus) {
    result.devices_after += !g.workers.empty();
    for (const auto& w : g.workers) {
      for (const auto& instance : w.models) {
        wanted[ModelOfInstance(instance)].insert(device_of.at(g.index));
      }
    }
  }
  const std::vector<InstanceMove> moves = DiffPlacement(wanted, live_devices);
  std::set<int> devices_before;
  for (const auto& [instance, device] : current_device) devices_before.insert(device);
  result.devices_before = devices_before.size();
  result.workers_after = plan.contexts;
  for (const InstanceMove& mv : moves) {
    result.moves.push_back(
        {mv.model, grid_.device(mv.from_device).label, grid_.device(mv.to_device).label});
  }
  const bool better = result.devices_after < result.devices_before ||
                      static_cast<size_t>(plan.contexts) < result.workers_before;
  if (!better || !plan.unplaced.empty()) {
    result.moves.clear();
    result.note = plan.unplaced.empty()
                      ? "the placement is already as good as a fresh plan: nothing to move"
                      : "a fresh plan would not place every live model: nothing moved";
    return result;
  }
  if (dry_run) return result;
  result.executed = true;
  // Moves in passes: one that does not fit yet may fit once others have left its target.
  std::map<size_t, std::string> last_error;  // by index into `moves`
  std::vector<size_t> left(moves.size());
  for (size_t i = 0; i < moves.size(); ++i) left[i] = i;
  bool progress = true;
  while (!left.empty() && progress && !grid_.stopping) {
    progress = false;
    std::vector<size_t> next;
    for (size_t i : left) {
      const InstanceMove& mv = moves[i];
      const std::shared_ptr<Model>& m = live[mv.model];
      const std::shared_ptr<Placement>& from = live_placements[mv.model][mv.placement];
      if (m->state != ModelState::kReady) {
        last_error[i] = "the model is no longer ready";
        next.push_back(i);
        continue;
      }
      auto r = MoveInstance(m, from, mv.to_device,
                            from->worker->isolated ? Isolation::kProcess : Isolation::kShared);
      if (r.ok()) {
        result.moved.push_back(std::move(r).value());
        progress = true;
      } else {
        last_error[i] = r.status().message();
        next.push_back(i);
      }
    }
    left = std::move(next);
  }
  for (size_t i : left) result.failed.push_back({moves[i].model, last_error[i]});
  result.fragmentation_after = Fragmentation(DeviceStatesNow());
  ReaderLock lock(&registry_.mu);
  result.workers_after = registry_.workers.size();
  return result;
}

}  // namespace modelgrid
