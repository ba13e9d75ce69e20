#include "serve/worker_pool.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>

#include "ipc/heartbeat.h"
#include "ipc/shm_layout.h"
#include "serve/grid_constants.h"
#include "serve/model_config_json.h"

namespace modelgrid {

namespace {

constexpr uint64_t kStartGraceMs =
    std::chrono::milliseconds(grid_constants::kWorkerStartTimeout).count();

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

WorkerPool::WorkerPool(GridContext& grid, Registry& registry,
                       std::unique_ptr<WorkerLauncher> launcher)
    : grid_(grid), registry_(registry), launcher_(std::move(launcher)) {
  WorkerLauncher::Events events;
  events.started = [this](const std::string& process, pid_t pid) {
    if (pid > 0) {
      grid_.log("worker " + process.substr(0, process.find('#')) + " started (pid " +
                std::to_string(pid) + ")");
    }
    OnStarted(process);
  };
  events.exited = [this](const std::string& process, int code, int status, bool restart) {
    OnExit(process, code, status, restart);
  };
  launcher_->SetEvents(std::move(events));
}

WorkerPool::~WorkerPool() {
  BeginShutdown();
  StopWatchdog();
  StopAll(grid_constants::kStopUnneededWorkerGraceMs);
  launcher_.reset();  // joins its threads while every member here is still alive
}

Result<std::shared_ptr<Worker>> WorkerPool::Create(int device, bool isolated,
                                                   const std::string& first_model,
                                                   int execution_threads) {
  const std::string base =
      grid_.device(device).label + (isolated ? "-" + first_model : std::string("-shared"));
  std::string name = base;
  {
    ReaderLock lock(&registry_.mu);
    for (int n = 2; registry_.workers.count(name); ++n) name = base + "-" + std::to_string(n);
  }
  const std::string process = name + "#" + std::to_string(++next_worker_id_);
  MG_ASSIGN_OR_RETURN(std::unique_ptr<WorkerChannel> channel,
                      launcher_->Connect(WorkerSpec{name, process, execution_threads,
                                                    grid_.device(device).host_binding}));
  {
    MutexLock lock(&loop_mu_);
    channel->UseEventLoop(event_loop_);
  }
  return std::make_shared<Worker>(name, process, device, isolated, execution_threads,
                                  std::move(channel));
}

Status WorkerPool::Start(const Worker& worker) {
  return launcher_->Launch(WorkerSpec{worker.name, worker.process, worker.execution_threads,
                                      grid_.device(worker.device).host_binding},
                           *worker.channel);
}

bool WorkerPool::WaitStarted(const Worker& worker, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (!started_.count(worker.process) && !shutting_down_) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    (void)started_cv_.WaitFor(&mu_, left);
  }
  return started_.count(worker.process) > 0 && !shutting_down_;
}

void WorkerPool::Stop(const Worker& worker, uint32_t grace_ms) {
  // The channel stays until the last reference to the worker goes: a thread may still be
  // looking at it.
  (void)launcher_->Stop(worker.process, grace_ms);
  MutexLock lock(&mu_);
  started_.erase(worker.process);
}

void WorkerPool::LoadSlot(const std::shared_ptr<Worker>& worker, uint32_t slot,
                          const std::shared_ptr<Model>& m, LoadCallback done) {
  uint64_t budget = 0, resident = 0;
  {
    ReaderLock lock(&registry_.mu);
    budget = WorkerBudget(*worker, worker->slots(registry_.mu), m.get());
    resident = WorkerBudget(*worker, worker->slots(registry_.mu));
  }
  if (m->tiered) {
    // The host-memory tier changes what is resident without loading anything (and on CUDA
    // the fraction is the whole process's): allow what the device leaves this worker.
    const DeviceState d = registry_.PlannedDeviceStates(grid_.devices)[worker->device];
    if (d.capacity_bytes >= d.planned_bytes) {
      budget = std::max(budget, d.capacity_bytes - d.planned_bytes + resident);
    }
  }
  // The worker's planned budget caps each of its instances (on the CPU the backend rejects
  // requests that would exceed it; on CUDA it is the allocator's fraction).
  ModelInstanceConfig instance = m->instance;
  instance.device = grid_.device(worker->device).runtime;
  instance.memory_limit_bytes = std::max(budget, m->planned_bytes);
  if (instance.backend == "python") {  // initialize(args)["model_config"]
    instance.model_config_json = TritonConfigJson(*m, {grid_.device(worker->device)}).dump();
  }
  const std::string config = LoadConfigToJson(instance, m->instances_per_device);
  CallTensor t{"config",
               static_cast<uint8_t>(ipc::WireDType::kBytes),
               {static_cast<int64_t>(config.size())},
               config.data(),
               config.size()};
  const std::string device_name = grid_.device(worker->device).name;
  worker->channel->Call(
      static_cast<uint8_t>(ipc::Op::kLoad), slot, {t}, 0,
      [this, m, device_name, done = std::move(done)](Result<Reply> r) {
        if (!r.ok()) return done(r.status());
        auto j = nlohmann::json::parse(r->text, nullptr, false);
        // One instance's peak is what the store keeps; the model's is all its instances'.
        const nlohmann::json reported =
            j.is_object() ? j.value("peak_bytes", nlohmann::json()) : nlohmann::json();
        const uint64_t peak = reported.is_number_unsigned() ? reported.get<uint64_t>() : 0;
        const uint64_t all = peak * static_cast<uint64_t>(m->instances_per_device);
        m->measured_peak_bytes = all;
        if (peak > 0 && !m->digest.empty()) {
          if (Status st = grid_.store->Put(FootprintKeyFor(*m, device_name), peak); !st.ok()) {
            grid_.log("warning: " + st.message());
          }
        }
        done(all);
      });
}

Status WorkerPool::UnloadSlot(const Worker& worker, uint32_t slot,
                              std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  worker.channel->Call(static_cast<uint8_t>(ipc::Op::kUnload), slot, {}, 0,
                       [promise](Result<Reply> r) { promise->set_value(r.status()); });
  if (future.wait_for(timeout) != std::future_status::ready) {
    return Status(StatusCode::kUnavailable, "worker " + worker.name + " did not confirm an unload");
  }
  return future.get();
}

void WorkerPool::UseEventLoop(server::EventLoop* loop) {
  MutexLock guard(&loop_mu_);
  event_loop_ = loop;
  for (const auto& w : registry_.Workers()) w->channel->UseEventLoop(loop);
}

void WorkerPool::StartWatchdog() {
  watchdog_ = std::thread([this] { Watchdog(); });
}

void WorkerPool::StopWatchdog() {
  watchdog_stop_ = true;
  if (watchdog_.joinable()) watchdog_.join();
}

void WorkerPool::BeginShutdown() {
  launcher_->DisableRestarts();
  MutexLock lock(&mu_);
  shutting_down_ = true;
  started_cv_.NotifyAll();
}

void WorkerPool::StopAll(uint32_t grace_ms) {
  for (const auto& process : launcher_->Processes()) (void)launcher_->Stop(process, grace_ms);
}

void WorkerPool::OnStarted(const std::string& process) {
  std::shared_ptr<Worker> worker;
  Worker::Slots slots;
  {
    ReaderLock lock(&registry_.mu);
    worker = registry_.FindProcess(process);
    if (!worker) return;
    slots = worker->slots(registry_.mu);
  }
  worker->channel->MarkUp();
  {
    MutexLock lock(&mu_);
    started_.insert(process);
  }
  started_cv_.NotifyAll();
  // (Re)loads every instance the worker hosts; the model becomes ready when the slot is
  // its current placement (a slot being loaded for a move becomes ready when it switches).
  for (auto& [slot, m] : slots) {
    const auto started = std::chrono::steady_clock::now();
    // The callback runs on the channel's thread: it must not hold the worker.
    const Worker* self = worker.get();
    if (cold_on_start_ && cold_on_start_(*m)) {  // the host-memory tier loads it when asked
      if (Current(self, slot, m)) {
        (void)m->state.Transition(ModelState::kReady);
        grid_.log("model " + m->served.name + " ready, cold: it loads on its first request");
      }
      continue;
    }
    LoadSlot(worker, slot, m, [this, self, slot = slot, m = m, started](Result<uint64_t> peak) {
      Loaded(self, slot, m, std::move(peak), started);
    });
  }
}

bool WorkerPool::Current(const Worker* worker, uint32_t slot, const std::shared_ptr<Model>& m) {
  ReaderLock lock(&registry_.mu);
  const Placements& placements = m->placements(registry_.mu);
  return std::any_of(placements.begin(), placements.end(),
                     [&](const auto& p) { return p->worker.get() == worker && p->slot == slot; });
}

void WorkerPool::Loaded(const Worker* worker, uint32_t slot, const std::shared_ptr<Model>& m,
                        Result<uint64_t> peak, std::chrono::steady_clock::time_point started) {
  if (!Current(worker, slot, m)) return;
  if (!peak.ok()) {
    m->SetFailure(peak.status().message());
    const ModelState to = peak.status().code() == StatusCode::kUnavailable
                              ? ModelState::kUnavailable
                              : ModelState::kFailed;
    // Refused, and rightly, when an unload began meanwhile: the model stays UNLOADING.
    (void)m->state.Transition(to);
    grid_.log("model " + m->served.name + " failed to load: " + peak.status().message());
    return;
  }
  if (!m->state.Transition(ModelState::kReady).ok()) return;  // an unload began meanwhile
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char line[256];
  std::snprintf(line, sizeof line, "model %s ready in %.2f s (warm-up peak %s, planned %s%s)",
                m->served.name.c_str(), seconds, MiB(*peak).c_str(), MiB(m->planned_bytes).c_str(),
                m->planned_from_measurement ? ", measured earlier" : ", estimated");
  grid_.log(line);
}

void WorkerPool::OnExit(const std::string& process, int exit_code, int exit_status,
                        bool will_restart) {
  std::shared_ptr<Worker> worker;
  {
    ReaderLock lock(&registry_.mu);
    worker = registry_.FindProcess(process);
  }
  if (!worker) return;  // a worker already replaced: nothing of it is left to fail
  const std::string why = exit_code == CLD_EXITED ? "exit status " + std::to_string(exit_status)
                                                  : "signal " + std::to_string(exit_status);
  // Its calls fail now and requests stop choosing it; a model with a live instance
  // elsewhere stays ready.
  worker->channel->OnWorkerExit(why);
  {
    ReaderLock lock(&registry_.mu);
    for (const auto& [slot, m] : worker->slots(registry_.mu)) {
      const Placements& placements = m->placements(registry_.mu);
      const bool here = std::any_of(placements.begin(), placements.end(),
                                    [&](const auto& p) { return p->worker == worker; });
      // An unloading model stays UNLOADING (the transition is refused).
      if (here && !OtherInstanceUp(placements, worker.get())) {
        (void)m->state.Transition(ModelState::kUnavailable);
      }
    }
  }
  if (will_restart) ++restarts_;
  if (!grid_.stopping) {
    grid_.log("worker " + worker->name + " exited (" + why + ")" +
              (will_restart ? "; restarting" : ""));
  }
}

void WorkerPool::Watchdog() {
  while (!watchdog_stop_) {
    std::this_thread::sleep_for(grid_constants::kWatchdogTick);
    const uint64_t now = ipc::MonotonicNowMs();
    for (const auto& worker : registry_.Workers()) {
      if (!worker->up()) continue;
      // Silent since its last beat: one timeout of silence, whatever the tick. A worker
      // that has not beaten since it started gets as long as a worker start may take
      // (it beats before it loads anything: this is exec and loading its libraries, from a
      // cold disk or under a sanitizer), and at least the timeout.
      bool starting = false;
      const uint64_t silent_ms = worker->channel->SilentMs(now, &starting);
      const uint64_t limit_ms =
          starting ? std::max<uint64_t>(grid_.options.heartbeat_timeout_ms, kStartGraceMs)
                   : grid_.options.heartbeat_timeout_ms;
      if (silent_ms <= limit_ms) continue;
      grid_.log("worker " + worker->name +
                (starting ? " sent no heartbeat in the " + std::to_string(silent_ms) +
                                " ms since it started; killing it"
                          : " stopped answering heartbeats for " + std::to_string(silent_ms) +
                                " ms; killing it"));
      // Until its exit is handled the next tick may kill the same dying process again
      // (harmless); its replacement comes up after that, with a fresh grace period.
      (void)launcher_->Kill(worker->process);
    }
  }
}

}  // namespace modelgrid
