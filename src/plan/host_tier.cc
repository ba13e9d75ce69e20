#include "plan/host_tier.h"

#include <map>

#include "estimate/report.h"
#include "gpu/host_link.h"

namespace modelgrid {

namespace {

// What swapping a model into `gpu` cannot evict: the process workers (their context and
// models) and, in the shared worker, its context and its latency-sensitive models (pinned
// resident); with the reserve. Where nothing runs yet, a shared worker's context.
uint64_t PinnedBytes(const PlannedGpu& gpu, const std::vector<ModelRequest>& models,
                     uint64_t context_bytes) {
  uint64_t pinned = gpu.reserve_bytes;
  bool shared = false;
  for (const PlannedWorker& w : gpu.workers) {
    pinned += w.context_bytes;
    shared = shared || w.isolation == Isolation::kShared;
    for (size_t i = 0; i < w.models.size(); ++i) {
      bool latency_sensitive = false;
      for (const ModelRequest& m : models) {
        if (m.name == ModelOfInstance(w.models[i])) latency_sensitive = m.latency_sensitive;
      }
      if (w.isolation == Isolation::kProcess || latency_sensitive) pinned += w.model_bytes[i];
    }
  }
  return shared ? pinned : pinned + context_bytes;
}

}  // namespace

void ParkUnplaced(const std::vector<ModelRequest>& models, const std::vector<GpuDevice>& gpus,
                  const PlanOptions& options, Plan* plan) {
  plan->host_cache_bytes = options.host_cache_bytes;
  plan->host_cache_used_bytes = 0;
  std::map<int, uint64_t> parked_on;  // GPU index -> parked bytes swapping into it
  std::vector<UnplacedModel> still;
  for (UnplacedModel& u : plan->unplaced) {
    const ModelRequest* m = nullptr;
    for (const ModelRequest& candidate : models) {
      if (candidate.name == ModelOfInstance(u.name)) m = &candidate;
    }
    auto keep = [&](const std::string& why) {
      u.reason += "; not parked: " + why;
      still.push_back(std::move(u));
    };
    if (m == nullptr || u.name != m->name) {
      keep("replicas beyond the first are not parked (a parked copy adds no throughput)");
      continue;
    }
    if (m->latency_sensitive) {
      keep(
          "latency-sensitive models stay resident (--strategy latency-sensitive places them "
          "first)");
      continue;
    }
    if (m->isolation == Isolation::kProcess) {
      keep("process-isolated models are not parked (each swap-in would start a context)");
      continue;
    }
    const GpuDevice* best = nullptr;
    for (const GpuDevice& g : gpus) {
      const uint64_t context = options.context_bytes.value_or(g.context_bytes);
      uint64_t pinned = context + options.reserve_bytes;
      for (const PlannedGpu& planned : plan->gpus) {
        if (planned.index == g.index) pinned = PinnedBytes(planned, models, context);
      }
      if (pinned + m->footprint_bytes > g.capacity_bytes) continue;
      if (best == nullptr || parked_on[g.index] < parked_on[best->index]) best = &g;
    }
    if (best == nullptr) {
      keep(
          "no GPU has room for it beside what cannot be evicted there (contexts, process "
          "workers, latency-sensitive models), so it could never swap in");
      continue;
    }
    const uint64_t bytes = m->footprint_bytes - m->transient_bytes;
    if (plan->host_cache_used_bytes + bytes > options.host_cache_bytes) {
      keep("the host cache (" + HumanBytes(options.host_cache_bytes) + ", " +
           HumanBytes(plan->host_cache_used_bytes) + " used) has no room for its " +
           HumanBytes(bytes));
      continue;
    }
    const HostLink link = HostLinkOf(*best);
    plan->host_cache_used_bytes += bytes;
    parked_on[best->index] += bytes;
    plan->parked.push_back({m->name, best->index, bytes, m->footprint_bytes,
                            static_cast<double>(bytes) / static_cast<double>(link.bytes_per_second),
                            link.name});
  }
  plan->unplaced = std::move(still);
}

}  // namespace modelgrid
