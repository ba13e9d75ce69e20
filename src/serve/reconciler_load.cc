// The Reconciler's loads and unloads, and the two steps every change is made of: loading an
// instance into a (new or shared) worker, and releasing one. See reconciler.h.
#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "nlohmann/json.hpp"
#include "serve/grid_constants.h"
#include "serve/model_reader.h"
#include "serve/reconciler.h"

namespace modelgrid {

using grid_constants::kLoadTimeout;
using grid_constants::kStopEmptyWorkerGraceMs;
using grid_constants::kStopUnneededWorkerGraceMs;
using grid_constants::kUnloadConfirmTimeout;
using grid_constants::kWorkerStartTimeout;

namespace {

// Adds `bytes` to a total that stays unknown until the first known part.
void AddKnown(std::optional<uint64_t>* total, std::optional<uint64_t> bytes) {
  if (bytes) *total = total->value_or(0) + *bytes;
}

}  // namespace

Result<LoadResult> Reconciler::Load(const std::string& name, const ConfigOverride* override) {
  std::shared_ptr<Model> current;
  {
    ReaderLock lock(&registry_.mu);
    auto it = registry_.models.find(name);
    if (it != registry_.models.end()) current = it->second;
  }
  const auto started = std::chrono::steady_clock::now();
  auto fresh = ReadModel(grid_, name, override);
  if (!fresh.ok()) {
    WriterLock lock(&registry_.mu);
    if (!current) registry_.unplaced[name] = fresh.status().message();
    return fresh.status();
  }
  std::shared_ptr<Model> m = std::move(fresh).value();
  LoadResult result;
  result.model = name;
  if (current && current->signature == m->signature && current->state == ModelState::kReady) {
    result.unchanged = true;
    return result;
  }
  // Admission and loading, instance by instance. A changed model loads next to its
  // current instances, which keep serving until the new ones are ready.
  if (!current) {
    WriterLock lock(&registry_.mu);
    registry_.unplaced.erase(name);
    registry_.models[name] = m;  // LOADING until placed: requests get 503, the index shows it
  }
  auto placed = LoadInstances(m, &result.notes);
  if (!placed.ok()) {
    WriterLock lock(&registry_.mu);
    if (!current) {
      registry_.models.erase(name);
      registry_.unplaced[name] = placed.status().message();
    }
    grid_.log("load of " + name + " refused or failed: " + placed.status().message());
    return placed.status();
  }
  for (const auto& note : result.notes) grid_.log("warning: model " + name + ": " + note);
  requests_.AttachBatcher(m);
  {
    WriterLock lock(&registry_.mu);
    m->mutable_placements(registry_.mu) = *placed;
    registry_.models[name] = m;
    for (const auto& p : *placed) {
      result.instances.push_back({p->worker->name, grid_.device(p->worker->device).label});
    }
    result.new_worker = placed->front()->worker->slots(registry_.mu).size() == 1;
  }
  (void)m->state.Transition(ModelState::kReady);  // it is new: nothing else moves it yet
  if (current) {
    // The new instances serve from here on; the old ones finish what they have.
    (void)current->state.Transition(ModelState::kUnloading);
    current->requests.Close();
    current->requests.WaitUntilIdle();
    Placements old;
    {
      WriterLock lock(&registry_.mu);
      old = std::move(current->mutable_placements(registry_.mu));
    }
    for (const auto& p : old) AddKnown(&result.replaced_freed_bytes, Release(p));
  }
  result.version = m->served.version;
  result.changed = current != nullptr;
  result.instances_wanted = m->instances;
  result.instances_per_device = m->instances_per_device;
  result.estimated_bytes = m->estimated_bytes;
  result.planned_bytes = m->planned_bytes;
  result.planned_from_measurement = m->planned_from_measurement;
  result.measured_peak_bytes = m->measured_peak_bytes.load();
  result.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  nlohmann::json where = nlohmann::json::array();
  for (const auto& i : result.instances)
    where.push_back({{"worker", i.worker}, {"device", i.device}});
  grid_.log("model " + name + (current ? " reloaded" : " loaded") + ": " + where.dump() +
            " (warm-up peak " + std::to_string(result.measured_peak_bytes >> 20) +
            " MiB, planned " + std::to_string(m->planned_bytes >> 20) + " MiB)");
  return result;
}

Result<Placements> Reconciler::LoadInstances(const std::shared_ptr<Model>& m,
                                             std::vector<std::string>* notes) {
  Placements placed;
  std::set<int> used;  // instances go to distinct devices
  // No swap changes the devices between the admission and the load; a model the tier may
  // park joins it, and makes room by parking idle ones when it fits nowhere as things are.
  auto hold = tiers_.Hold();
  const bool tiered = tiers_.enabled() && TierManager::PinnedWhy(*m).empty();
  m->tiered = tiered;
  for (int k = 0; k < m->instances && !grid_.stopping; ++k) {
    std::vector<DeviceState> states = DeviceStatesNow();
    std::erase_if(states, [&](const DeviceState& d) { return used.count(d.index) > 0; });
    Status why;
    if (states.empty()) {
      why = ResourceExhausted("every device already holds an instance of model " + m->served.name);
    } else {
      AdmissionRequest ask{m->served.name, m->planned_bytes, m->transient_bytes,
                           m->isolation,   grid_.strategy,   std::nullopt};
      Result<Admission> admitted = Admit(ask, states);
      for (size_t d = 0; tiered && !admitted.ok() && d < states.size(); ++d) {
        AdmissionRequest here = ask;
        here.device = states[d].index;
        if (!tiers_.FitsOnceParked(here)) continue;  // it would evict everything in vain
        while (!(admitted = Admit(here, DeviceStatesNow())).ok() && tiers_.ParkOne(*here.device)) {
        }
      }
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

Result<UnloadResult> Reconciler::Unload(const std::string& name) {
  std::shared_ptr<Model> m;
  {
    ReaderLock lock(&registry_.mu);
    auto it = registry_.models.find(name);
    if (it == registry_.models.end()) return NotFound("model '" + name + "' is not loaded");
    m = it->second;
  }
  (void)m->state.Transition(ModelState::kUnloading);  // legal from every state
  // New requests now get 503; those accepted before finish (queued ones included).
  m->requests.Close();
  if (m->instance.decoupled && !m->requests.WaitUntilIdleFor(grid_constants::kStreamUnloadGrace)) {
    // A decoupled model may hold a request open for good: what is still open ends now.
    const Status why(StatusCode::kUnavailable,
                     "model '" + name + "' is unloading: its open request was ended");
    Placements open;
    {
      ReaderLock lock(&registry_.mu);
      open = m->placements(registry_.mu);
    }
    for (const auto& p : open) p->worker->channel->AbandonStreams(p->slot, why);
  }
  m->requests.WaitUntilIdle();  // the last request's ticket ends the wait
  Placements placements;
  {
    WriterLock lock(&registry_.mu);
    registry_.models.erase(name);
    placements = std::move(m->mutable_placements(registry_.mu));
  }
  UnloadResult result;
  result.model = name;
  result.planned_bytes = m->planned_bytes;
  result.worker = placements.empty() ? "" : placements.front()->worker->name;
  for (const auto& p : placements) {
    AddKnown(&result.freed_bytes, Release(p));
    ReaderLock lock(&registry_.mu);
    if (!registry_.workers.count(p->worker->name))
      result.stopped_workers.push_back(p->worker->name);
  }
  grid_.log("model " + name + " unloaded" +
            (result.stopped_workers.empty() ? "" : "; worker " + result.worker + " stopped") +
            "; " +
            (result.freed_bytes ? std::to_string(*result.freed_bytes >> 20) + " MiB"
                                : std::string("unknown memory")) +
            " returned");
  if (grid_.options.replan_fragmentation > 0) {
    const double fragmentation = Fragmentation(DeviceStatesNow());
    if (fragmentation >= grid_.options.replan_fragmentation) {
      grid_.log("fragmentation " + std::to_string(fragmentation) +
                " reached the threshold; re-planning");
      auto replan = Replan(grid_.strategy, false);
      if (replan.ok()) {
        result.replan = std::move(replan).value();
      } else {
        result.replan_error = replan.status().message();
      }
    }
  }
  return result;
}

Result<std::shared_ptr<Placement>> Reconciler::LoadPlaced(const std::shared_ptr<Model>& m,
                                                          const Admission& admission) {
  std::shared_ptr<Worker> worker;
  if (!admission.new_worker) {
    ReaderLock lock(&registry_.mu);
    for (const auto& [name, w] : registry_.workers) {
      if (w->device == admission.device && !w->isolated) worker = w;
    }
  }
  const bool fresh = worker == nullptr;
  if (fresh) {
    const bool isolated = m->isolation == Isolation::kProcess;
    MG_ASSIGN_OR_RETURN(worker, pool_.Create(admission.device, isolated, m->served.name,
                                             isolated ? m->instances_per_device : 1));
    WriterLock lock(&registry_.mu);
    registry_.workers[worker->name] = worker;
  }
  auto forget_worker = [&] {
    if (!fresh) return;
    pool_.Stop(*worker, kStopUnneededWorkerGraceMs);
    WriterLock lock(&registry_.mu);
    registry_.workers.erase(worker->name);
  };
  if (fresh) {
    if (Status st = pool_.Start(*worker); !st.ok()) {
      forget_worker();
      return st;
    }
    if (!pool_.WaitStarted(*worker, kWorkerStartTimeout)) {
      forget_worker();
      return Status(StatusCode::kUnavailable, "worker " + worker->name + " did not start");
    }
  }
  std::shared_ptr<Placement> placement;
  {
    WriterLock lock(&registry_.mu);
    placement = std::make_shared<Placement>(worker, registry_.FreeSlot(*worker));
    worker->mutable_slots(registry_.mu)[placement->slot] = m;
  }
  auto promise = std::make_shared<std::promise<Result<uint64_t>>>();
  auto future = promise->get_future();
  pool_.LoadSlot(worker, placement->slot, m,
                 [promise](Result<uint64_t> r) { promise->set_value(std::move(r)); });
  Result<uint64_t> loaded =
      future.wait_for(kLoadTimeout) == std::future_status::ready
          ? future.get()
          : Result<uint64_t>(Status(StatusCode::kUnavailable, "the load timed out"));
  if (!loaded.ok()) {
    {
      WriterLock lock(&registry_.mu);
      worker->mutable_slots(registry_.mu).erase(placement->slot);
    }
    forget_worker();
    return loaded.status();
  }
  return placement;
}

std::optional<uint64_t> Reconciler::Release(const std::shared_ptr<Placement>& placement) {
  // Routed requests took their tickets under the registry's lock, and the placement left
  // its model under it before this: these are all the requests it will ever have.
  placement->requests.WaitUntilIdle();
  const std::shared_ptr<Worker>& worker = placement->worker;
  const std::optional<uint64_t> before = Observer::WorkerBytes(*worker, observer_.Measure());
  bool last = false;
  {
    WriterLock lock(&registry_.mu);
    Worker::Slots& slots = worker->mutable_slots(registry_.mu);
    slots.erase(placement->slot);
    last = slots.empty();
    if (last) registry_.workers.erase(worker->name);
  }
  if (last) {
    // Nothing left in it: the whole process, and its context, goes back.
    pool_.Stop(*worker, kStopEmptyWorkerGraceMs);
    return before;
  }
  if (Status st = pool_.UnloadSlot(*worker, placement->slot, kUnloadConfirmTimeout); !st.ok()) {
    grid_.log("warning: " + st.message());
  }
  const std::optional<uint64_t> after = Observer::WorkerBytes(*worker, observer_.Measure());
  if (!before || !after) return std::nullopt;
  return *before > *after ? *before - *after : 0;
}

}  // namespace modelgrid
