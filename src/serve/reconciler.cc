// The Reconciler's threads, start-up placement and poll mode. See reconciler.h.
#include "serve/reconciler.h"

#include <chrono>

#include "plan/planner.h"
#include "serve/devices.h"
#include "serve/grid_constants.h"
#include "serve/model_reader.h"
#include "serve/reconcile_diff.h"

namespace modelgrid {

Reconciler::~Reconciler() { Stop(); }

void Reconciler::Start() {
  control_ = std::thread([this] { ControlLoop(); });
  if (grid_.options.model_control == ModelControlMode::kPoll) {
    poller_ = std::thread([this] { PollRepository(); });
  }
}

void Reconciler::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (control_.joinable()) control_.join();
  if (poller_.joinable()) poller_.join();
}

void Reconciler::Control(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    if (!loop_ended_) {
      queue_.push_back(std::move(task));
      task = nullptr;
    }
  }
  if (task) return task();  // too late for the thread: the task sees stopping and answers
  cv_.NotifyAll();
}

void Reconciler::ControlLoop() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      while (!stop_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) {
        loop_ended_ = true;
        return;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();  // a task started after shutdown began sees grid.stopping and answers 503
  }
}

void Reconciler::PollRepository() {
  auto next = std::chrono::steady_clock::now();
  while (true) {
    {
      MutexLock lock(&mu_);
      if (!stop_) (void)cv_.WaitFor(&mu_, grid_constants::kPollTick);
      if (stop_) return;
      if (std::chrono::steady_clock::now() < next || sync_queued_) continue;
      sync_queued_ = true;
    }
    next = std::chrono::steady_clock::now() +
           std::chrono::milliseconds(grid_.options.poll_interval_ms);
    Control([this] {
      {
        MutexLock lock(&mu_);
        sync_queued_ = false;
      }
      if (!grid_.stopping) SyncRepository();
    });
  }
}

void Reconciler::SyncRepository() {
  const std::string& repo = grid_.options.repository;
  auto names = ListRepositoryModels(repo);
  if (!names.ok()) {
    grid_.log("warning: poll: " + names.status().message());
    return;
  }
  std::map<std::string, std::string> wanted, live;
  for (const auto& name : *names) {
    // The change test needs the version and files only: no auto_complete_config child.
    auto served = ReadServedModel(repo, name, nullptr, /*auto_complete=*/false);
    wanted[name] = served.ok() ? RepositorySignature(repo, *served) : "";
  }
  for (const auto& m : registry_.Models()) live[m->served.name] = m->signature;
  const RepositoryDiff diff = DiffRepository(wanted, live, failed_signature_);
  for (const auto& name : diff.load) {
    if (grid_.stopping) return;
    if (Load(name).ok()) {
      failed_signature_.erase(name);
    } else {
      failed_signature_[name] = wanted[name];
    }
  }
  for (const auto& name : diff.unload) {
    if (grid_.stopping) return;
    (void)Unload(name);
  }
}

void Reconciler::AddSlot(const std::shared_ptr<Worker>& worker, const std::shared_ptr<Model>& m) {
  const uint32_t slot = registry_.FreeSlot(*worker);
  worker->mutable_slots(registry_.mu)[slot] = m;
  Placements& placements = m->mutable_placements(registry_.mu);
  if (placements.empty()) requests_.AttachBatcher(m);
  placements.push_back(std::make_shared<Placement>(worker, slot));
  registry_.models[m->served.name] = m;
}

Status Reconciler::PlaceInitial(const std::vector<std::string>& names) {
  std::vector<ModelRequest> requests;
  std::map<std::string, std::shared_ptr<Model>> read;
  for (const auto& name : names) {
    auto m = ReadModel(grid_, name);
    if (!m.ok()) {
      if (grid_.options.model_control == ModelControlMode::kNone) return m.status();
      grid_.log("warning: model " + name + " is not served: " + m.status().message());
      WriterLock lock(&registry_.mu);
      registry_.unplaced[name] = m.status().message();
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
  plan_options.strategy = grid_.strategy;
  plan_options.host_cache_bytes = grid_.options.host_cache_bytes;
  MG_ASSIGN_OR_RETURN(Plan plan, MakePlan(requests, PlanDevices(grid_.devices), plan_options));
  for (const auto& gpu : plan.gpus) {
    for (const auto& pw : gpu.workers) {
      const bool isolated = pw.isolation == Isolation::kProcess;
      auto first = read.find(ModelOfInstance(pw.models.front()));
      const int threads = isolated && first != read.end() ? first->second->instances_per_device : 1;
      MG_ASSIGN_OR_RETURN(
          std::shared_ptr<Worker> worker,
          pool_.Create(gpu.index, isolated, ModelOfInstance(pw.models.front()), threads));
      WriterLock lock(&registry_.mu);
      for (const auto& instance : pw.models) {
        auto it = read.find(ModelOfInstance(instance));
        if (it == read.end()) continue;
        const std::shared_ptr<Model>& m = it->second;
        m->tiered = tiers_.enabled() && TierManager::PinnedWhy(*m).empty();
        AddSlot(worker, m);
      }
      if (!worker->slots(registry_.mu).empty()) registry_.workers[worker->name] = worker;
    }
  }
  // What the host cache holds: cold in its device's shared worker until the tier warms it.
  for (const auto& parked : plan.parked) {
    auto it = read.find(parked.name);
    if (it == read.end()) continue;
    const std::shared_ptr<Model>& m = it->second;
    if (std::string why = TierManager::PinnedWhy(*m); !why.empty()) {
      plan.unplaced.push_back({parked.name, "it fits no device and " + why});
      continue;
    }
    std::shared_ptr<Worker> worker;
    {
      ReaderLock lock(&registry_.mu);
      for (const auto& [name, w] : registry_.workers) {
        if (w->device == parked.gpu && !w->isolated) worker = w;
      }
    }
    if (!worker) {
      MG_ASSIGN_OR_RETURN(worker, pool_.Create(parked.gpu, false, parked.name, 1));
    }
    WriterLock lock(&registry_.mu);
    m->tiered = true;
    m->tier = Tier::kCold;
    AddSlot(worker, m);
    registry_.workers[worker->name] = worker;
  }
  // What did not fit: a whole model, or some of its instances.
  WriterLock lock(&registry_.mu);
  for (const auto& u : plan.unplaced) {
    const std::string name = ModelOfInstance(u.name);
    if (registry_.models.count(name) == 0) {
      grid_.log("warning: model " + name + " is not served: " + u.reason);
      registry_.unplaced[name] = u.reason;
    } else {
      grid_.log("warning: instance " + u.name + " is not served: " + u.reason);
    }
  }
  return Status::Ok();
}

}  // namespace modelgrid
