// /metrics: Prometheus text from a GridSnapshot. Triton's names where they apply.
#include "serve/observer.h"

#include <cstdio>

#include "serve/custom_metrics.h"
#include "server/prometheus.h"

namespace modelgrid {

namespace {

using server::Labels;
using server::PrometheusWriter;

Labels ModelLabels(const Model& m) {
  return {{"model", m.served.name}, {"version", std::to_string(m.served.version)}};
}

// Per model, Triton's counters (cumulative, microseconds as Triton reports them).
void WriteInferenceCounters(const GridSnapshot& s, PrometheusWriter& w) {
  struct Counter {
    const char* name;
    const char* help;
    uint64_t InferStats::*field;
    double scale;
  };
  const Counter counters[] = {
      {"nv_inference_request_success", "Number of successful inference requests, all batch sizes",
       &InferStats::success, 1},
      {"nv_inference_request_failure", "Number of failed inference requests, all batch sizes",
       &InferStats::failure, 1},
      {"nv_inference_count", "Number of inferences performed (a batch of n counts n)",
       &InferStats::inferences, 1},
      {"nv_inference_exec_count", "Number of model executions performed (a dynamic batch is one)",
       &InferStats::executions, 1},
      {"nv_inference_request_duration_us", "Cumulative inference request duration in microseconds",
       &InferStats::success_ns, 1e-3},
      {"nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
       &InferStats::queue_ns, 1e-3},
      {"nv_inference_compute_infer_duration_us",
       "Cumulative compute inference duration in microseconds (worker round trip)",
       &InferStats::compute_ns, 1e-3},
  };
  for (const Counter& c : counters) {
    w.Family(c.name, "counter", c.help);
    for (const auto& v : s.models) {
      const InferStats& st = v.stats;
      double value = static_cast<double>(st.*(c.field)) * c.scale;
      // Triton's request duration counts every request, failed ones included.
      if (c.field == &InferStats::success_ns) {
        value = static_cast<double>(st.success_ns + st.failure_ns) * 1e-3;
      }
      w.Sample(c.name, ModelLabels(*v.model),
               c.scale == 1 ? value : static_cast<double>(static_cast<uint64_t>(value)));
    }
  }
}

// Triton's GPU gauges from NVML, its CPU gauges from /proc.
void WriteDeviceGauges(const Observation& o, PrometheusWriter& w) {
  if (const auto& gpus = o.gpus) {
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
  if (const auto& host = o.host) {
    w.Family("nv_cpu_memory_total_bytes", "gauge", "CPU total memory (RAM), in bytes");
    w.Sample("nv_cpu_memory_total_bytes", {}, static_cast<double>(host->total_bytes));
    w.Family("nv_cpu_memory_used_bytes", "gauge", "CPU used memory (RAM), in bytes");
    w.Sample("nv_cpu_memory_used_bytes", {}, static_cast<double>(host->used_bytes));
  }
  w.Family("nv_cpu_utilization", "gauge",
           "CPU utilization rate [0.0 - 1.0] over the last sampling interval");
  w.Sample("nv_cpu_utilization", {}, o.cpu_utilization);
}

// The host-memory tier, when on: each model's tier and swaps, the swap-in durations, and
// the bytes on the devices and in the host cache.
void WriteTierMetrics(const GridSnapshot& s, PrometheusWriter& w) {
  w.Family("modelgrid_model_tier", "gauge",
           "1 for the model's tier: resident, parked (host memory), cold (not loaded), or "
           "parking/unparking (moving)");
  w.Family("modelgrid_swap_ins_total", "counter", "Swap-ins of the model onto its device");
  w.Family("modelgrid_swap_outs_total", "counter", "Parks of the model into host memory");
  w.Family("modelgrid_swap_in_duration_seconds", "histogram",
           "Time of a swap-in: the copy (or the load, when cold) back onto the device");
  uint64_t resident = 0;
  for (const auto& v : s.models) {
    const Model& m = *v.model;
    Labels l = ModelLabels(m);
    if (OnDevice(v.tier)) resident += m.planned_bytes;
    Labels tier = l;
    tier.emplace_back("tier", TierName(v.tier));
    w.Sample("modelgrid_model_tier", tier, 1);
    if (!v.tiered) continue;  // pinned resident: it never swaps
    w.Sample("modelgrid_swap_ins_total", l, static_cast<double>(v.stats.swap_ins));
    w.Sample("modelgrid_swap_outs_total", l, static_cast<double>(v.stats.swap_outs));
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kSwapInBucketsMs.size(); ++i) {
      cumulative += v.stats.swap_in_buckets[i];
      Labels le = l;
      char bound[32];
      std::snprintf(bound, sizeof bound, "%g", kSwapInBucketsMs[i] / 1000.0);
      le.emplace_back("le", bound);
      w.Sample("modelgrid_swap_in_duration_seconds_bucket", le, static_cast<double>(cumulative));
    }
    Labels inf = l;
    inf.emplace_back("le", "+Inf");
    w.Sample("modelgrid_swap_in_duration_seconds_bucket", inf,
             static_cast<double>(v.stats.swap_ins));
    w.Sample("modelgrid_swap_in_duration_seconds_sum", l,
             static_cast<double>(v.stats.swap_in_ns) / 1e9);
    w.Sample("modelgrid_swap_in_duration_seconds_count", l, static_cast<double>(v.stats.swap_ins));
  }
  w.Family("modelgrid_tier_bytes", "gauge",
           "Footprints of the models on the devices (resident) and the bytes the parked models "
           "hold in host memory (parked)");
  w.Sample("modelgrid_tier_bytes", {{"tier", "resident"}}, static_cast<double>(resident));
  w.Sample("modelgrid_tier_bytes", {{"tier", "parked"}}, static_cast<double>(ParkedBytes(s)));
  w.Family("modelgrid_host_cache_capacity_bytes", "gauge", "--host-cache");
  w.Sample("modelgrid_host_cache_capacity_bytes", {}, static_cast<double>(s.host_cache_bytes));
}

}  // namespace

uint64_t ParkedBytes(const GridSnapshot& s) {
  uint64_t bytes = 0;
  for (const auto& v : s.models) {
    if (v.tier == Tier::kParked || v.tier == Tier::kParking) bytes += ResidentPart(*v.model);
  }
  return bytes;
}

std::string RenderMetrics(const GridSnapshot& s, const std::vector<Device>& devices) {
  PrometheusWriter w;
  WriteInferenceCounters(s, w);
  WriteDeviceGauges(s.observation, w);
  // ModelGrid's own: memory per model, workers, devices, the plan.
  w.Family("modelgrid_model_estimated_bytes", "gauge", "Footprint the estimator predicted");
  w.Family("modelgrid_model_planned_bytes", "gauge", "Footprint the plan reserved");
  w.Family("modelgrid_model_measured_bytes", "gauge", "Peak measured at the load's warm-up");
  w.Family("modelgrid_model_ready", "gauge", "1 when the model serves requests");
  for (const auto& v : s.models) {
    const Model& m = *v.model;
    const Labels l = ModelLabels(m);
    w.Sample("modelgrid_model_estimated_bytes", l, static_cast<double>(m.estimated_bytes));
    w.Sample("modelgrid_model_planned_bytes", l, static_cast<double>(m.planned_bytes));
    w.Sample("modelgrid_model_measured_bytes", l,
             static_cast<double>(m.measured_peak_bytes.load()));
    w.Sample("modelgrid_model_ready", l, v.state == ModelState::kReady ? 1 : 0);
  }
  w.Family("modelgrid_worker_restarts_total", "counter", "Worker processes restarted after exits");
  w.Sample("modelgrid_worker_restarts_total", {}, static_cast<double>(s.worker_restarts));
  w.Family("modelgrid_worker_memory_bytes", "gauge",
           "Measured memory of a worker process (RSS on the host, NVML on a GPU)");
  for (const auto& wk : s.workers) {
    if (!wk.memory_bytes) continue;
    w.Sample("modelgrid_worker_memory_bytes",
             {{"worker", wk.name}, {"device", devices[static_cast<size_t>(wk.device)].label}},
             static_cast<double>(*wk.memory_bytes));
  }
  w.Family("modelgrid_device_contexts", "gauge", "Worker processes (CUDA contexts) on a device");
  w.Family("modelgrid_device_capacity_bytes", "gauge", "Memory the plan may use on a device");
  w.Family("modelgrid_device_planned_bytes", "gauge",
           "Contexts plus footprints placed on a device");
  w.Family("modelgrid_plan_utilization", "gauge", "Planned bytes over capacity, per device");
  for (const DeviceState& d : s.devices) {
    int contexts = 0;
    for (const auto& wk : s.workers) contexts += wk.device == d.index;
    const Labels l = {{"device", d.label}};
    w.Sample("modelgrid_device_contexts", l, contexts);
    w.Sample("modelgrid_device_capacity_bytes", l, static_cast<double>(d.capacity_bytes));
    w.Sample("modelgrid_device_planned_bytes", l, static_cast<double>(d.planned_bytes));
    w.Sample("modelgrid_plan_utilization", l,
             d.capacity_bytes
                 ? static_cast<double>(d.planned_bytes) / static_cast<double>(d.capacity_bytes)
                 : 0.0);
  }
  w.Family("modelgrid_fragmentation", "gauge",
           "1 - largest free block / total free memory over the devices");
  w.Sample("modelgrid_fragmentation", {}, Fragmentation(s.devices));
  if (s.host_cache_bytes > 0) WriteTierMetrics(s, w);
  // The models' own (Python models' pb_utils.MetricFamily), as their workers report them.
  (void)WriteCustomMetrics(s.custom_metrics, w);
  return w.Take();
}

}  // namespace modelgrid
