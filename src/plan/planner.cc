#include "plan/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "estimate/report.h"
#include "plan/host_tier.h"
#include "plan/packing.h"

namespace modelgrid {

namespace {

using plan_internal::Packing;

constexpr uint64_t kMaxBytes = uint64_t{64} << 40;

std::string UnplacedReason(const Packing& p, int item) {
  const auto& it = p.items()[item];
  uint64_t largest = 0;
  for (const auto& b : p.bins()) {
    largest = std::max(largest, b.usable > b.context ? b.usable - b.context : 0);
  }
  if (it.footprint > largest) {
    return "needs " + HumanBytes(it.footprint) + " plus a context; the largest GPU has " +
           HumanBytes(largest) + " after its context and reserve";
  }
  if (it.group_size > static_cast<int>(p.bins().size())) {
    return std::to_string(it.group_size) + " replicas need distinct GPUs but there are only " +
           std::to_string(p.bins().size());
  }
  // The GPU (without a replica of it) where it misses by the least.
  uint64_t need = 0, room = 0;
  bool found = false;
  for (int b = 0; b < static_cast<int>(p.bins().size()); ++b) {
    const auto& bin = p.bins()[b];
    bool replica_here = false;
    for (int other : bin.items) replica_here |= p.items()[other].model == it.model;
    if (replica_here) continue;
    const uint64_t cost = p.Cost(item, b);
    const uint64_t left = bin.usable > bin.used ? bin.usable - bin.used : 0;
    if (!found || (cost > left ? cost - left : 0) < (need > room ? need - room : 0)) {
      need = cost;
      room = left;
      found = true;
    }
  }
  std::string what = HumanBytes(it.footprint);
  if (it.process) {
    what += " plus its own context";
  } else if (it.transient > 0) {
    what += " (" + HumanBytes(it.transient) + " of it transient, reused within a shared worker)";
  }
  return "needs " + what + "; at best it would add " + HumanBytes(need) +
         " to a GPU without a replica of it that has " + HumanBytes(room) + " left";
}

}  // namespace

const char* IsolationName(Isolation isolation) {
  return isolation == Isolation::kProcess ? "process" : "shared";
}

const char* StrategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::kFillFirst:
      return "fill-first";
    case Strategy::kBalanceLoad:
      return "balance-load";
    case Strategy::kMemoryOptimized:
      return "memory-optimized";
    case Strategy::kLatencySensitive:
      return "latency-sensitive";
    case Strategy::kOptimal:
      return "optimal";
    case Strategy::kConventional:
      return "conventional";
  }
  return "unknown";
}

Result<Strategy> ParseStrategy(std::string_view name) {
  for (Strategy s : {Strategy::kFillFirst, Strategy::kBalanceLoad, Strategy::kMemoryOptimized,
                     Strategy::kLatencySensitive, Strategy::kOptimal, Strategy::kConventional}) {
    if (name == StrategyName(s)) return s;
  }
  return InvalidArgument("unknown strategy '" + std::string(name) +
                         "'; use fill-first, balance-load, memory-optimized, "
                         "latency-sensitive, optimal, conventional or all");
}

const std::vector<Strategy>& AllStrategies() {
  static const std::vector<Strategy> kAll = {Strategy::kFillFirst, Strategy::kBalanceLoad,
                                             Strategy::kMemoryOptimized,
                                             Strategy::kLatencySensitive, Strategy::kOptimal};
  return kAll;
}

std::string InstanceName(const ModelRequest& model, int replica) {
  return model.replicas > 1 ? model.name + "#" + std::to_string(replica + 1) : model.name;
}

std::string ModelOfInstance(const std::string& instance) {
  return instance.substr(0, instance.find('#'));
}

Status ValidatePlanInput(const std::vector<ModelRequest>& models,
                         const std::vector<GpuDevice>& gpus, const PlanOptions& options) {
  if (models.empty()) return InvalidArgument("the model list is empty");
  if (gpus.empty()) return InvalidArgument("the GPU list is empty");
  std::set<std::string> names;
  for (const auto& m : models) {
    if (m.name.empty()) return InvalidArgument("a model has an empty name");
    if (!names.insert(m.name).second) {
      return InvalidArgument("duplicate model name '" + m.name + "'");
    }
    if (m.footprint_bytes == 0 || m.footprint_bytes > kMaxBytes) {
      return OutOfRange("model '" + m.name + "': footprint " + std::to_string(m.footprint_bytes) +
                        " bytes is outside 1 B .. 64 TiB");
    }
    if (m.transient_bytes > m.footprint_bytes) {
      return OutOfRange("model '" + m.name + "': transient " + std::to_string(m.transient_bytes) +
                        " bytes exceeds its footprint of " + std::to_string(m.footprint_bytes));
    }
    if (m.replicas < 1 || m.replicas > kMaxGpus) {
      return OutOfRange("model '" + m.name + "': replicas " + std::to_string(m.replicas) +
                        " is outside 1.." + std::to_string(kMaxGpus));
    }
    if (!std::isfinite(m.expected_load) || m.expected_load < 0) {
      return OutOfRange("model '" + m.name + "': expected_load must be finite and >= 0");
    }
  }
  for (const auto& g : gpus) {
    if (g.capacity_bytes == 0 || g.capacity_bytes > kMaxBytes) {
      return OutOfRange("GPU " + std::to_string(g.index) + " has an impossible capacity");
    }
  }
  if (options.context_bytes.value_or(0) > kMaxBytes) {
    return OutOfRange("context bytes over 64 TiB");
  }
  if (options.reserve_bytes > kMaxBytes) return OutOfRange("reserve bytes over 64 TiB");
  if (!(options.time_limit_seconds >= 0 && options.time_limit_seconds <= 3600)) {
    return OutOfRange("time limit must be 0..3600 seconds");
  }
  if (options.host_cache_bytes > kMaxBytes) return OutOfRange("host cache over 64 TiB");
  return Status::Ok();
}

Result<Plan> MakePlan(const std::vector<ModelRequest>& models, const std::vector<GpuDevice>& gpus,
                      const PlanOptions& options) {
  MG_RETURN_IF_ERROR(ValidatePlanInput(models, gpus, options));
  const auto start = std::chrono::steady_clock::now();
  const bool conventional = options.strategy == Strategy::kConventional;
  Packing p(plan_internal::ExpandItems(models, conventional),
            plan_internal::MakeBins(gpus, options.context_bytes, options.reserve_bytes));
  Plan plan;
  plan.strategy = StrategyName(options.strategy);
  std::vector<int> all(p.items().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  plan.lower_bound_gpus = plan_internal::LowerBoundGpus(p, all);
  switch (options.strategy) {
    case Strategy::kFillFirst:
    case Strategy::kConventional:
      plan_internal::FillFirst(&p);
      break;
    case Strategy::kBalanceLoad:
      plan_internal::BalanceLoad(&p);
      break;
    case Strategy::kMemoryOptimized:
      plan_internal::MemoryOptimized(&p);
      break;
    case Strategy::kLatencySensitive:
      plan_internal::LatencySensitive(&p);
      break;
    case Strategy::kOptimal: {
      const auto outcome = plan_internal::Optimal(&p, options.time_limit_seconds);
      plan.proven_optimal = outcome.proven_optimal;
      break;
    }
  }
  if (options.strategy != Strategy::kOptimal) {
    plan.proven_optimal =
        p.Placed() == static_cast<int>(p.items().size()) && p.BinsUsed() == plan.lower_bound_gpus;
  }
  const auto& items = p.items();
  for (size_t g = 0; g < gpus.size(); ++g) {
    const auto& bin = p.bins()[g];
    PlannedGpu out;
    out.index = gpus[g].index;
    out.name = gpus[g].name;
    out.capacity_bytes = gpus[g].capacity_bytes;
    out.reserve_bytes = options.reserve_bytes;
    out.planned_bytes = bin.items.empty() ? 0 : bin.used + options.reserve_bytes;
    out.load = bin.load;
    PlannedWorker shared;
    shared.isolation = Isolation::kShared;
    shared.context_bytes = bin.context;
    std::vector<PlannedWorker> own;
    std::vector<int> sorted = bin.items;
    std::sort(sorted.begin(), sorted.end());
    for (int i : sorted) {
      const ModelRequest& m = models[items[i].model];
      PlannedWorker* w = &shared;
      if (items[i].process) {
        own.emplace_back();
        own.back().isolation = Isolation::kProcess;
        own.back().context_bytes = bin.context;
        w = &own.back();
      }
      w->models.push_back(InstanceName(m, items[i].replica));
      w->model_bytes.push_back(items[i].footprint);
      w->transient_bytes.push_back(items[i].transient);
      w->transient_peak_bytes = std::max(w->transient_peak_bytes, items[i].transient);
    }
    if (!shared.models.empty()) out.workers.push_back(std::move(shared));
    for (auto& w : own) out.workers.push_back(std::move(w));
    plan.contexts += static_cast<int>(out.workers.size());
    plan.gpus_used += out.workers.empty() ? 0 : 1;
    plan.gpus.push_back(std::move(out));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const ModelRequest& m = models[items[i].model];
    if (p.BinOf(static_cast<int>(i)) >= 0) {
      ++plan.placed_instances;
    } else {
      plan.unplaced.push_back(
          {InstanceName(m, items[i].replica), UnplacedReason(p, static_cast<int>(i))});
    }
  }
  if (options.host_cache_bytes > 0) ParkUnplaced(models, gpus, options, &plan);
  plan.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

}  // namespace modelgrid
