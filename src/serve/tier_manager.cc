#include "serve/tier_manager.h"

#include <algorithm>
#include <chrono>
#include <future>

#include "ipc/heartbeat.h"
#include "serve/grid_constants.h"

namespace modelgrid {

namespace {

void Run(std::vector<std::pair<std::function<void(Status)>, Status>>& resumes) {
  for (auto& [resume, status] : resumes) resume(status);
  resumes.clear();
}

// Counts one swap-in of `ns` in `m`'s statistics.
void CountSwapIn(Model& m, uint64_t ns) {
  m.UpdateStats([&](InferStats& s) {
    s.swap_ins += 1;
    s.swap_in_ns += ns;
    const double ms = static_cast<double>(ns) / 1e6;
    for (size_t i = 0; i < kSwapInBucketsMs.size(); ++i) {
      if (ms <= kSwapInBucketsMs[i]) {
        s.swap_in_buckets[i] += 1;
        break;
      }
    }
  });
}

}  // namespace

TierManager::~TierManager() { Stop(); }

std::string TierManager::PinnedWhy(const Model& m) {
  if (m.latency_sensitive) return "latency-sensitive models stay resident";
  if (m.instance.backend == "python") return "Python models cannot be parked";
  if (m.isolation == Isolation::kProcess) return "models in a worker of their own stay resident";
  if (m.instances != 1) return "models with several instances stay resident";
  return "";
}

void TierManager::Start() {
  if (!enabled() || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void TierManager::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

std::unique_lock<std::mutex> TierManager::Hold() {
  if (!enabled()) return {};
  return std::unique_lock<std::mutex>(hold_mu_);
}

Result<InFlight::Ticket> TierManager::EnterOrWait(Model* m, Placement& placement,
                                                  std::function<void(Status)> resume) {
  MutexLock lock(&mu_);
  if (m->tier == Tier::kResident) {
    m->last_use = ++uses_;
    return placement.requests.Enter();
  }
  if (stop_) return Status(StatusCode::kUnavailable, "the server is shutting down");
  waiting_[m].push_back(Waiter{ipc::MonotonicNowMs(), std::move(resume)});
  wake_.NotifyAll();
  return InFlight::Ticket();
}

bool TierManager::ColdOnStart(Model& m) {
  MutexLock lock(&mu_);
  if (!m.tiered) return false;
  const Tier t = m.tier;
  if (t == Tier::kParked) m.tier = Tier::kCold;  // its host copy died with the worker
  // kUnparking: the swap thread's call failed or will; it settles the tier.
  if (t == Tier::kParked || t == Tier::kCold || t == Tier::kUnparking) {
    warm_tried_.erase(m.served.name);
    return true;
  }
  return false;
}

uint64_t TierManager::ParkedBytesLocked() const {
  uint64_t bytes = 0;
  for (const auto& [name, m] : registry_.models) {
    const Tier t = m->tier;
    if (m->tiered && (t == Tier::kParked || t == Tier::kParking)) bytes += ResidentPart(*m);
  }
  return bytes;
}

void TierManager::SetTier(Model& m, Tier to) {
  MutexLock lock(&mu_);
  m.tier = to;
}

void TierManager::Block(Model* m, std::string why) {
  MutexLock lock(&mu_);
  if (waiting_.count(m)) blocked_[m] = std::move(why);
}

void TierManager::TakeWaiters(Model* m, const Status& status, Resumes* out) {
  auto it = waiting_.find(m);
  if (it == waiting_.end()) return;
  for (auto& w : it->second) out->emplace_back(std::move(w.resume), status);
  waiting_.erase(it);
  blocked_.erase(m);
}

void TierManager::Loop() {
  bool idle = false;  // the last round changed nothing: wait for a request or the tick
  while (true) {
    std::vector<std::pair<uint64_t, Model*>> targets;  // (oldest wait, model)
    Resumes resumes;
    bool stopping = false;
    {
      MutexLock lock(&mu_);
      if (!stop_ && idle) (void)wake_.WaitFor(&mu_, grid_constants::kSwapRetryTick);
      stopping = stop_;
      const uint64_t now = ipc::MonotonicNowMs();
      const uint64_t wait_ms = grid_.options.host_cache_wait_ms;
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        Model* m = it->first;
        auto& queue = it->second;
        if (stopping || m->state == ModelState::kUnloading) {
          const std::string why = stopping ? "the server is shutting down"
                                           : "model '" + m->served.name + "' is unloading";
          for (auto& w : queue)
            resumes.emplace_back(std::move(w.resume), Status(StatusCode::kUnavailable, why));
          queue.clear();
        }
        while (!queue.empty() && queue.front().since_ms + wait_ms <= now) {
          auto blocked = blocked_.find(m);
          const std::string why =
              blocked != blocked_.end() ? blocked->second : "the swap-ins before it took as long";
          resumes.emplace_back(
              std::move(queue.front().resume),
              Status(StatusCode::kUnavailable,
                     "model '" + m->served.name + "' waited " + std::to_string(wait_ms) +
                         " ms (--host-cache-wait-ms) to swap in from host "
                         "memory and could not: " +
                         why));
          queue.pop_front();
        }
        if (queue.empty()) {
          blocked_.erase(m);
          it = waiting_.erase(it);
          continue;
        }
        targets.emplace_back(queue.front().since_ms, m);
        ++it;
      }
    }
    Run(resumes);
    if (stopping) return;
    // The model whose request waited longest goes first, the next when it cannot swap in
    // yet; with none waiting, a cold one is warmed.
    std::sort(targets.begin(), targets.end());
    bool moved = false;
    for (const auto& [since, m] : targets) {
      if ((moved = SwapIn(m))) break;
    }
    idle = !(targets.empty() ? WarmOne() : moved);
  }
}

bool TierManager::WarmOne() {
  std::shared_ptr<Model> cold;
  {
    ReaderLock rl(&registry_.mu);
    MutexLock lock(&mu_);
    for (const auto& [name, m] : registry_.models) {
      // Not while a model loads: it could be evicted once ready, and is not yet.
      if (m->state == ModelState::kLoading) return false;
      if (!cold && m->tiered && m->tier == Tier::kCold && m->state == ModelState::kReady &&
          !warm_tried_.count(name)) {
        cold = m;
      }
    }
    if (!cold) return false;
    warm_tried_.insert(cold->served.name);
  }
  (void)SwapIn(cold.get());
  return true;
}

bool TierManager::SwapIn(Model* m) {
  std::lock_guard<std::mutex> hold(hold_mu_);
  std::shared_ptr<Placement> placement;
  std::shared_ptr<Model> model;  // the registry's reference, for LoadSlot
  {
    ReaderLock lock(&registry_.mu);
    const Placements& placements = m->placements(registry_.mu);
    if (!placements.empty()) {
      placement = placements.front();
      const Worker::Slots& slots = placement->worker->slots(registry_.mu);
      auto it = slots.find(placement->slot);
      if (it != slots.end() && it->second.get() == m) model = it->second;
    }
  }
  Resumes resumes;
  if (!placement || !model) {
    {
      MutexLock lock(&mu_);
      TakeWaiters(m,
                  Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is not placed"),
                  &resumes);
    }
    Run(resumes);
    return true;
  }
  const std::shared_ptr<Worker>& worker = placement->worker;
  if (m->tier == Tier::kResident) {
    {
      MutexLock lock(&mu_);
      TakeWaiters(m, Status::Ok(), &resumes);
    }
    Run(resumes);
    return true;
  }
  if (!worker->up() || m->state != ModelState::kReady) {
    Block(m, !worker->up() ? "its worker " + worker->name + " is not up"
                           : std::string("it is ") + ModelStateName(m->state));
    return false;
  }
  if (Status room = MakeRoomFor(*worker, *m); !room.ok()) {
    Block(m, room.message());
    return false;
  }
  InFlight::Ticket ticket = placement->requests.Enter();
  if (!ticket) {
    {
      MutexLock lock(&mu_);
      TakeWaiters(
          m, Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is being released"),
          &resumes);
    }
    Run(resumes);
    return true;
  }
  Tier from;
  {
    MutexLock lock(&mu_);
    from = m->tier;
    m->tier = Tier::kUnparking;  // counts on the device from here
  }
  const auto started = std::chrono::steady_clock::now();
  Status moved;
  if (from == Tier::kCold) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto loaded = promise->get_future();
    pool_.LoadSlot(worker, placement->slot, model,
                   [promise](Result<uint64_t> peak) { promise->set_value(peak.status()); });
    moved = loaded.wait_for(grid_constants::kLoadTimeout) == std::future_status::ready
                ? loaded.get()
                : Status(StatusCode::kUnavailable, "the load did not answer in time");
  } else {
    moved = CallAndWait(*worker, ipc::Op::kUnpark, placement->slot).status();
  }
  const uint64_t ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - started)
                                                .count());
  if (!moved.ok()) {
    // Whatever the worker holds of it now, it holds nothing after this: the next swap-in
    // loads it afresh.
    if (worker->up()) {
      (void)pool_.UnloadSlot(*worker, placement->slot, grid_constants::kUnloadConfirmTimeout);
    }
    grid_.log("warning: swap-in of model " + m->served.name + " failed: " + moved.message());
  }
  {
    MutexLock lock(&mu_);
    m->tier = moved.ok() ? Tier::kResident : Tier::kCold;
    m->last_use = ++uses_;
    TakeWaiters(
        m,
        moved.ok() ? Status::Ok() : moved.WithContext("swap-in of model '" + m->served.name + "'"),
        &resumes);
  }
  ticket.reset();
  if (moved.ok()) CountSwapIn(*m, ns);
  Run(resumes);
  return true;
}

Status TierManager::MakeRoomFor(const Worker& worker, const Model& keep) {
  while (true) {
    const std::vector<DeviceState> states = observer_.DeviceStates(observer_.Measure());
    uint64_t now = 0, with = 0;
    {
      ReaderLock lock(&registry_.mu);
      const Worker::Slots& slots = worker.slots(registry_.mu);
      now = WorkerBudget(worker, slots);
      with = WorkerBudget(worker, slots, &keep);
    }
    const DeviceState& d = states[static_cast<size_t>(worker.device)];
    const uint64_t need = with > now ? with - now : 0;
    const uint64_t free = FreeBytes(d);
    if (need <= free) return Status::Ok();
    std::string why;
    if (!ParkVictim(worker, &keep, &why)) {
      return ResourceExhausted("model '" + keep.served.name + "' needs " + MiBText(need) + " on " +
                               d.label + ", which has " + MiBText(free) + " free, and " + why);
    }
  }
}

bool TierManager::FitsOnceParked(const AdmissionRequest& ask) const {
  const std::vector<DeviceState> states =
      observer_.DeviceStates(observer_.Latest(), /*tiered_parked=*/true);
  return Admit(ask, {states.at(static_cast<size_t>(ask.device.value_or(0)))}).ok();
}

bool TierManager::ParkOne(int device) {
  std::vector<std::shared_ptr<Worker>> shared;
  {
    ReaderLock lock(&registry_.mu);
    for (const auto& [name, w] : registry_.workers) {
      if (w->device == device && !w->isolated) shared.push_back(w);
    }
  }
  std::string why;
  for (const auto& w : shared) {
    if (ParkVictim(*w, nullptr, &why)) return true;
  }
  return false;
}

bool TierManager::ParkVictim(const Worker& worker, const Model* keep, std::string* why) {
  std::shared_ptr<Model> victim;
  std::shared_ptr<Placement> placement;
  InFlight::Ticket ticket;
  bool busy = false, full = false;
  {
    ReaderLock rl(&registry_.mu);
    const uint64_t parked = ParkedBytesLocked();
    MutexLock lock(&mu_);
    for (const auto& [slot, m] : worker.slots(registry_.mu)) {
      if (m.get() == keep || !m->tiered || m->tier != Tier::kResident) continue;
      const Placements& ps = m->placements(registry_.mu);
      if (ps.size() != 1 || ps.front()->worker.get() != &worker) continue;
      // A request accepted (queued or in flight) or waiting keeps its model resident.
      if (m->state != ModelState::kReady || m->requests.count() > 0 ||
          ps.front()->requests.count() > 0 || waiting_.count(m.get())) {
        busy = true;
        continue;
      }
      if (parked + ResidentPart(*m) > grid_.options.host_cache_bytes) {
        full = true;
        continue;
      }
      if (!victim || m->last_use < victim->last_use) {
        victim = m;
        placement = ps.front();
      }
    }
    if (victim) {
      ticket = placement->requests.Enter();
      if (ticket) victim->tier = Tier::kParking;
    }
  }
  if (!victim || !ticket) {
    *why = full ? "the host cache (--host-cache " + MiBText(grid_.options.host_cache_bytes) +
                      ") has no room for the idle models there"
           : busy ? "every other model resident there is busy"
                  : "no other model resident there can be parked";
    return false;
  }
  Result<Reply> parked = CallAndWait(worker, ipc::Op::kPark, placement->slot);
  SetTier(*victim, parked.ok() ? Tier::kParked : Tier::kResident);
  if (!parked.ok()) {
    grid_.log("warning: parking model " + victim->served.name +
              " failed: " + parked.status().message());
    *why = "parking model " + victim->served.name + " failed: " + parked.status().message();
    return false;
  }
  victim->UpdateStats([](InferStats& s) { s.swap_outs += 1; });
  return true;
}

Result<Reply> TierManager::CallAndWait(const Worker& worker, ipc::Op op, uint32_t slot) {
  auto promise = std::make_shared<std::promise<Result<Reply>>>();
  auto reply = promise->get_future();
  worker.channel->Call(static_cast<uint8_t>(op), slot, {}, 0,
                       [promise](Result<Reply> r) { promise->set_value(std::move(r)); });
  if (reply.wait_for(grid_constants::kSwapTimeout) != std::future_status::ready) {
    return Status(StatusCode::kUnavailable, "worker " + worker.name + " did not answer in time");
  }
  return reply.get();
}

}  // namespace modelgrid
