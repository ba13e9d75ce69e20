// ModelGrid observability: /metrics (Prometheus, Triton's names where they apply) and
// /v2/modelgrid/status, both from the live state plus measured memory. See model_grid.h.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "gpu/device_usage.h"
#include "ipc/heartbeat.h"
#include "serve/model_grid.h"
#include "server/prometheus.h"

namespace modelgrid {

namespace {

using nlohmann::json;
using server::Labels;
using server::PrometheusWriter;

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

ModelGrid::Usage ModelGrid::MeasureUsage() const {
  Usage usage;
  if (auto host = QueryHostMemory(); host.ok()) usage.host = *host;
  const bool gpus =
      std::any_of(devices_.begin(), devices_.end(), [](const Device& d) { return d.nvml; });
  if (gpus) {
    if (auto read = QueryGpuUsage(); read.ok()) usage.gpus = std::move(read).value();
  }
  return usage;
}

std::optional<uint64_t> ModelGrid::MeasuredFreeBytes(int device, const Usage& usage) const {
  const Device& d = devices_[static_cast<size_t>(device)];
  if (d.host) {
    return usage.host ? std::optional<uint64_t>(usage.host->available_bytes) : std::nullopt;
  }
  if (!d.nvml || !usage.gpus) return std::nullopt;  // a virtual GPU: only the plan knows
  const GpuUsage* g = FindGpu(*usage.gpus, CudaOrdinal(d.runtime));
  if (!g) return std::nullopt;
  return g->total_bytes > g->used_bytes ? g->total_bytes - g->used_bytes : 0;
}

std::optional<uint64_t> ModelGrid::WorkerMemoryBytes(const Worker& worker,
                                                     const Usage& usage) const {
  const pid_t pid = processes_ ? processes_->Pid(worker.process) : -1;
  if (pid <= 0) return std::nullopt;
  const Device& d = devices_[static_cast<size_t>(worker.device)];
  if (d.host) {
    auto rss = ProcessTreeRssBytes(pid);
    return rss.ok() ? std::optional<uint64_t>(*rss) : std::nullopt;
  }
  if (!usage.gpus) return std::nullopt;
  // NVML reports host pids: inside a container with its own pid namespace nothing matches.
  const GpuUsage* g = FindGpu(*usage.gpus, CudaOrdinal(d.runtime));
  if (!g) return std::nullopt;
  for (const GpuProcessUsage& p : g->processes) {
    if (static_cast<pid_t>(p.pid) == pid) return p.used_bytes;
  }
  return std::nullopt;
}

Result<std::string> ModelGrid::Metrics() {
  PrometheusWriter w;
  std::vector<std::shared_ptr<Model>> models;
  std::vector<std::shared_ptr<Worker>> workers;
  {
    ReaderLock lock(&mu_);
    for (auto& [name, m] : models_) models.push_back(m);
    for (auto& [name, wk] : workers_) workers.push_back(wk);
  }
  // Per model, Triton's counters (cumulative, microseconds as Triton reports them).
  struct Counter {
    const char* name;
    const char* help;
    uint64_t Stats::*field;
    double scale;
  };
  const Counter counters[] = {
      {"nv_inference_request_success", "Number of successful inference requests, all batch sizes",
       &Stats::success, 1},
      {"nv_inference_request_failure", "Number of failed inference requests, all batch sizes",
       &Stats::failure, 1},
      {"nv_inference_count", "Number of inferences performed (a batch of n counts n)",
       &Stats::inferences, 1},
      {"nv_inference_exec_count", "Number of model executions performed (a dynamic batch is one)",
       &Stats::executions, 1},
      {"nv_inference_request_duration_us", "Cumulative inference request duration in microseconds",
       &Stats::success_ns, 1e-3},
      {"nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
       &Stats::queue_ns, 1e-3},
      {"nv_inference_compute_infer_duration_us",
       "Cumulative compute inference duration in microseconds (worker round trip)",
       &Stats::compute_ns, 1e-3},
  };
  std::vector<std::pair<Labels, Stats>> stats;
  for (const auto& m : models) {
    MutexLock lock(&m->stats_mu);
    stats.push_back(
        {{{"model", m->served.name}, {"version", std::to_string(m->served.version)}}, m->stats});
  }
  for (const Counter& c : counters) {
    w.Family(c.name, "counter", c.help);
    for (const auto& [labels, s] : stats) {
      double v = static_cast<double>(s.*(c.field)) * c.scale;
      if (c.field == &Stats::success_ns)
        v = static_cast<double>(s.success_ns + s.failure_ns) * 1e-3;
      w.Sample(c.name, labels, c.scale == 1 ? v : static_cast<double>(static_cast<uint64_t>(v)));
    }
  }
  // Devices: Triton's GPU gauges from NVML, its CPU gauges from /proc. One reading serves
  // the whole scrape.
  const Usage usage = MeasureUsage();
  if (const auto& gpus = usage.gpus) {
    w.Family("nv_gpu_memory_total_bytes", "gauge", "GPU total memory, in bytes");
    w.Family("nv_gpu_memory_used_bytes", "gauge", "GPU used memory, in bytes");
    w.Family("nv_gpu_utilization", "gauge", "GPU utilization rate [0.0 - 1.0)");
    for (const GpuUsage& g : *gpus) {
      const Labels l = {{"gpu_uuid", g.uuid.empty() ? std::to_string(g.index) : g.uuid}};
      w.Sample("nv_gpu_memory_total_bytes", l, static_cast<double>(g.total_bytes));
      w.Sample("nv_gpu_memory_used_bytes", l, static_cast<double>(g.used_bytes));
      if (g.utilization_percent) w.Sample("nv_gpu_utilization", l, *g.utilization_percent / 100.0);
    }
  }
  if (const auto& host = usage.host) {
    w.Family("nv_cpu_memory_total_bytes", "gauge", "CPU total memory (RAM), in bytes");
    w.Sample("nv_cpu_memory_total_bytes", {}, static_cast<double>(host->total_bytes));
    w.Family("nv_cpu_memory_used_bytes", "gauge", "CPU used memory (RAM), in bytes");
    w.Sample("nv_cpu_memory_used_bytes", {}, static_cast<double>(host->used_bytes));
  }
  {
    MutexLock lock(&observe_mu_);
    w.Family("nv_cpu_utilization", "gauge",
             "CPU utilization rate [0.0 - 1.0] since the last scrape");
    w.Sample("nv_cpu_utilization", {}, cpu_.Sample());
  }
  // ModelGrid's own: memory per model, workers, devices, the plan.
  w.Family("modelgrid_model_estimated_bytes", "gauge", "Footprint the estimator predicted");
  w.Family("modelgrid_model_planned_bytes", "gauge", "Footprint the plan reserved");
  w.Family("modelgrid_model_measured_bytes", "gauge", "Peak measured at the load's warm-up");
  w.Family("modelgrid_model_ready", "gauge", "1 when the model serves requests");
  for (const auto& m : models) {
    const Labels l = {{"model", m->served.name}, {"version", std::to_string(m->served.version)}};
    w.Sample("modelgrid_model_estimated_bytes", l, static_cast<double>(m->estimated_bytes));
    w.Sample("modelgrid_model_planned_bytes", l, static_cast<double>(m->planned_bytes));
    w.Sample("modelgrid_model_measured_bytes", l,
             static_cast<double>(m->measured_peak_bytes.load()));
    w.Sample("modelgrid_model_ready", l, m->state == ModelState::kReady ? 1 : 0);
  }
  w.Family("modelgrid_worker_restarts_total", "counter", "Worker processes restarted after exits");
  w.Sample("modelgrid_worker_restarts_total", {}, static_cast<double>(worker_restarts_.load()));
  w.Family("modelgrid_worker_memory_bytes", "gauge",
           "Measured memory of a worker process (RSS on the host, NVML on a GPU)");
  for (const auto& wk : workers) {
    if (auto bytes = WorkerMemoryBytes(*wk, usage)) {
      w.Sample("modelgrid_worker_memory_bytes",
               {{"worker", wk->name}, {"device", devices_[static_cast<size_t>(wk->device)].label}},
               static_cast<double>(*bytes));
    }
  }
  const std::vector<DeviceState> states = DeviceStates(usage);
  w.Family("modelgrid_device_contexts", "gauge", "Worker processes (CUDA contexts) on a device");
  w.Family("modelgrid_device_capacity_bytes", "gauge", "Memory the plan may use on a device");
  w.Family("modelgrid_device_planned_bytes", "gauge",
           "Contexts plus footprints placed on a device");
  w.Family("modelgrid_plan_utilization", "gauge", "Planned bytes over capacity, per device");
  for (const DeviceState& s : states) {
    int contexts = 0;
    for (const auto& wk : workers) contexts += wk->device == s.index;
    const Labels l = {{"device", s.label}};
    w.Sample("modelgrid_device_contexts", l, contexts);
    w.Sample("modelgrid_device_capacity_bytes", l, static_cast<double>(s.capacity_bytes));
    w.Sample("modelgrid_device_planned_bytes", l, static_cast<double>(s.planned_bytes));
    w.Sample("modelgrid_plan_utilization", l,
             s.capacity_bytes
                 ? static_cast<double>(s.planned_bytes) / static_cast<double>(s.capacity_bytes)
                 : 0.0);
  }
  w.Family("modelgrid_fragmentation", "gauge",
           "1 - largest free block / total free memory over the devices");
  w.Sample("modelgrid_fragmentation", {}, Fragmentation(states));
  return w.Take();
}

Result<json> ModelGrid::ServerStatus() {
  std::vector<std::shared_ptr<Model>> models;
  std::vector<std::shared_ptr<Worker>> workers;
  {
    ReaderLock lock(&mu_);
    for (auto& [name, m] : models_) models.push_back(m);
    for (auto& [name, wk] : workers_) workers.push_back(wk);
  }
  json out;
  out["server"] = {{"name", "modelgrid"},
                   {"version", MODELGRID_VERSION},
                   {"uptime_s", (ipc::MonotonicNowMs() - started_ms_) / 1000.0},
                   {"model_control_mode", ModelControlModeName(options_.model_control)},
                   {"strategy", options_.strategy},
                   {"ready", Ready()}};
  const Usage usage = MeasureUsage();
  const std::vector<DeviceState> states = DeviceStates(usage);
  std::map<std::string, std::optional<uint64_t>> worker_memory;
  std::vector<std::optional<uint64_t>> device_used(devices_.size());
  for (const auto& wk : workers) {
    const auto bytes = WorkerMemoryBytes(*wk, usage);
    worker_memory[wk->name] = bytes;
    auto& used = device_used[static_cast<size_t>(wk->device)];
    if (bytes) used = used.value_or(0) + *bytes;
  }
  out["devices"] = json::array();
  for (const DeviceState& s : states) {
    int count = 0;
    for (const auto& wk : workers) count += wk->device == s.index;
    const Device& d = devices_[static_cast<size_t>(s.index)];
    const auto& used = device_used[static_cast<size_t>(s.index)];
    out["devices"].push_back({{"device", d.label},
                              {"runtime", d.runtime},
                              {"name", d.name},
                              {"capacity_bytes", s.capacity_bytes},
                              {"planned_bytes", s.planned_bytes},
                              {"used_bytes", used ? json(*used) : json(nullptr)},
                              {"free_bytes", FreeBytes(s)},
                              {"workers", count}});
  }
  out["workers"] = json::array();
  for (const auto& wk : workers) {
    json names = json::array();
    uint64_t budget = 0;
    {
      ReaderLock lock(&mu_);
      for (const auto& [slot, m] : wk->slots) names.push_back(m->served.name);
      budget = WorkerBudget(*wk);
    }
    const auto& bytes = worker_memory[wk->name];
    out["workers"].push_back({{"name", wk->name},
                              {"device", devices_[static_cast<size_t>(wk->device)].label},
                              {"pid", processes_ ? processes_->Pid(wk->process) : -1},
                              {"isolated", wk->isolated},
                              {"execution_threads", wk->execution_threads},
                              {"up", wk->client && wk->client->up()},
                              {"restarts", processes_ ? processes_->Restarts(wk->process) : 0},
                              {"budget_bytes", budget},
                              {"memory_bytes", bytes ? json(*bytes) : json(nullptr)},
                              {"models", names}});
  }
  out["models"] = json::array();
  MG_ASSIGN_OR_RETURN(json index, RepositoryIndex(false));
  for (const auto& m : models) {
    std::string failure;
    const Stats s = m->StatsSnapshot(&failure);
    std::string worker, device;
    json instances = json::array();
    {
      ReaderLock lock(&mu_);
      for (const auto& p : m->placements) {
        const std::string& label = devices_[static_cast<size_t>(p->worker->device)].label;
        if (worker.empty()) {
          worker = p->worker->name;
          device = label;
        }
        instances.push_back({{"worker", p->worker->name}, {"device", label}});
      }
    }
    const uint64_t measured = m->measured_peak_bytes.load();
    out["models"].push_back({{"name", m->served.name},
                             {"version", std::to_string(m->served.version)},
                             {"state", ModelStateName(m->state)},
                             {"worker", worker},
                             {"device", device},
                             {"instances", instances},
                             {"instances_wanted", m->instances},
                             {"instances_per_device", m->instances_per_device},
                             {"estimated_bytes", m->estimated_bytes},
                             {"planned_bytes", m->planned_bytes},
                             {"transient_bytes", m->transient_bytes},
                             {"measured_bytes", measured ? json(measured) : json(nullptr)},
                             {"success", s.success},
                             {"failure", s.failure},
                             {"inferences", s.inferences},
                             {"last_error", failure}});
  }
  for (const auto& e : index) {
    if (e["reason"] == "unloaded" || e["state"] != "UNAVAILABLE") continue;
    bool listed = false;
    for (const auto& m : models) listed = listed || m->served.name == e["name"].get<std::string>();
    if (!listed) {
      out["models"].push_back({{"name", e["name"]},
                               {"version", nullptr},
                               {"state", "UNAVAILABLE"},
                               {"last_error", e["reason"]}});
    }
  }
  out["fragmentation"] = Fragmentation(states);
  return out;
}

}  // namespace modelgrid
