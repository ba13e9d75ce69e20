#include "serve/observer.h"

#include <algorithm>
#include <cstdlib>

#include "ipc/heartbeat.h"
#include "ipc/shm_layout.h"
#include "serve/grid_constants.h"

namespace modelgrid {

namespace {

// The response region of a kMetrics call: the worker asks for more when its report needs it.
constexpr uint64_t kMetricsRegionBytes = uint64_t{64} << 10;

// The CUDA ordinal of a runtime device string ("cuda:3" -> 3), or -1.
int CudaOrdinal(const std::string& runtime) {
  if (runtime.rfind("cuda:", 0) != 0) return -1;
  return std::atoi(runtime.c_str() + 5);
}

const GpuUsage* FindGpu(const std::vector<GpuUsage>& gpus, int ordinal) {
  for (const GpuUsage& g : gpus) {
    if (g.index == ordinal) return &g;
  }
  return nullptr;
}

}  // namespace

Observer::Observer(const GridContext& grid, const Registry& registry, const WorkerPool& pool)
    : grid_(grid), registry_(registry), pool_(pool) {
  (void)Measure();
}

Observer::~Observer() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.NotifyAll();
  if (sampler_.joinable()) sampler_.join();
}

void Observer::Start() {
  sampler_ = std::thread([this] { Sample(); });
}

void Observer::Sample() {
  while (true) {
    {
      MutexLock lock(&mu_);
      if (!stop_) (void)wake_.WaitFor(&mu_, grid_constants::kObserveInterval);
      if (stop_) return;
    }
    (void)Measure();
    RequestCustomMetrics();
  }
}

void Observer::RequestCustomMetrics() {
  std::vector<std::shared_ptr<Worker>> python;
  {
    ReaderLock lock(&registry_.mu);
    for (const auto& [name, w] : registry_.workers) {
      const Worker::Slots& slots = w->slots(registry_.mu);
      if (std::any_of(slots.begin(), slots.end(),
                      [](const auto& slot) { return slot.second->instance.backend == "python"; })) {
        python.push_back(w);
      }
    }
  }
  {
    MutexLock lock(&custom_metrics_->mu);
    auto& reports = custom_metrics_->reports;
    for (auto it = reports.begin(); it != reports.end();) {
      const bool hosts = std::any_of(python.begin(), python.end(),
                                     [&](const auto& w) { return w->name == it->first; });
      it = hosts ? std::next(it) : reports.erase(it);
    }
  }
  for (const auto& w : python) {
    if (!w->up()) continue;
    w->channel->Call(static_cast<uint8_t>(ipc::Op::kMetrics), 0, {}, kMetricsRegionBytes,
                     [store = custom_metrics_, name = w->name](Result<Reply> reply) {
                       if (!reply.ok() || reply->outputs.size() != 1) return;
                       MutexLock lock(&store->mu);
                       store->reports[name] = std::move(reply->outputs[0].data);
                     });
  }
}

Observation Observer::Measure() {
  MutexLock measuring(&measure_mu_);
  Observation o;
  o.taken_ms = ipc::MonotonicNowMs();
  if (auto host = QueryHostMemory(); host.ok()) o.host = *host;
  const bool nvml = std::any_of(grid_.devices.begin(), grid_.devices.end(),
                                [](const Device& d) { return d.nvml; });
  if (nvml) {
    if (auto read = QueryGpuUsage(); read.ok()) o.gpus = std::move(read).value();
  }
  for (const auto& w : registry_.Workers()) {
    const pid_t pid = pool_.Pid(*w);
    if (pid <= 0) continue;
    const Device& d = grid_.device(w->device);
    if (d.host) {
      if (auto rss = ProcessTreeRssBytes(pid); rss.ok()) o.worker_bytes[w->process] = *rss;
      continue;
    }
    if (!o.gpus) continue;
    // NVML reports host pids: inside a container with its own pid namespace nothing matches.
    const GpuUsage* g = FindGpu(*o.gpus, CudaOrdinal(d.runtime));
    if (!g) continue;
    for (const GpuProcessUsage& p : g->processes) {
      if (static_cast<pid_t>(p.pid) == pid && p.used_bytes)
        o.worker_bytes[w->process] = *p.used_bytes;
    }
  }
  o.cpu_utilization = cpu_.Sample();
  MutexLock lock(&mu_);
  latest_ = o;
  return o;
}

Observation Observer::Latest() const {
  MutexLock lock(&mu_);
  return latest_;
}

std::optional<uint64_t> Observer::MeasuredFreeBytes(const Device& d,
                                                    const Observation& reading) const {
  if (d.host) {
    return reading.host ? std::optional<uint64_t>(reading.host->available_bytes) : std::nullopt;
  }
  if (!d.nvml || !reading.gpus) return std::nullopt;  // a virtual GPU: only the plan knows
  const GpuUsage* g = FindGpu(*reading.gpus, CudaOrdinal(d.runtime));
  if (!g) return std::nullopt;
  return g->total_bytes > g->used_bytes ? g->total_bytes - g->used_bytes : 0;
}

std::vector<DeviceState> Observer::DeviceStates(const Observation& reading,
                                                bool tiered_parked) const {
  std::vector<DeviceState> states = registry_.PlannedDeviceStates(grid_.devices, tiered_parked);
  for (DeviceState& s : states)
    s.measured_free_bytes = MeasuredFreeBytes(grid_.device(s.index), reading);
  return states;
}

std::optional<uint64_t> Observer::WorkerBytes(const Worker& worker, const Observation& reading) {
  auto it = reading.worker_bytes.find(worker.process);
  return it == reading.worker_bytes.end() ? std::nullopt : std::optional<uint64_t>(it->second);
}

GridSnapshot Observer::Snapshot(bool ready) const {
  GridSnapshot s;
  s.ready = ready;
  s.observation = Latest();
  s.devices = DeviceStates(s.observation);
  s.worker_restarts = pool_.restarts_total();
  s.host_cache_bytes = grid_.options.host_cache_bytes;
  std::vector<std::shared_ptr<Worker>> workers;
  {
    ReaderLock lock(&registry_.mu);
    s.unplaced = registry_.unplaced;
    for (const auto& [name, m] : registry_.models) {
      GridSnapshot::ModelView v;
      v.model = m;
      v.state = m->state;
      v.tiered = m->tiered;
      v.tier = m->tier;
      for (const auto& p : m->placements(registry_.mu)) {
        v.instances.push_back({p->worker->name, p->worker->device});
      }
      s.models.push_back(std::move(v));
    }
    for (const auto& [name, w] : registry_.workers) {
      GridSnapshot::WorkerView v;
      v.name = w->name;
      v.device = w->device;
      v.isolated = w->isolated;
      v.execution_threads = w->execution_threads;
      v.up = w->up();
      const Worker::Slots& slots = w->slots(registry_.mu);
      v.budget_bytes = WorkerBudget(*w, slots);
      for (const auto& [slot, m] : slots) v.models.push_back(m->served.name);
      v.memory_bytes = WorkerBytes(*w, s.observation);
      s.workers.push_back(std::move(v));
      workers.push_back(w);
    }
  }
  for (auto& v : s.models) v.stats = v.model->StatsSnapshot(&v.last_error);
  {
    MutexLock lock(&custom_metrics_->mu);
    for (const auto& [name, report] : custom_metrics_->reports) s.custom_metrics.push_back(report);
  }
  for (size_t i = 0; i < workers.size(); ++i) {
    s.workers[i].pid = pool_.Pid(*workers[i]);
    s.workers[i].restarts = pool_.Restarts(*workers[i]);
  }
  return s;
}

}  // namespace modelgrid
