// The allocation planner: which GPU and which worker each model instance goes to.
//
// Contract of every strategy: a GPU's planned bytes (its workers' peaks + reserve) never
// exceed its capacity; replicas of one model land on distinct GPUs; an instance that fits
// nowhere is listed as unplaced with the reason. Contexts: the first shared model on a GPU
// starts that GPU's shared worker (one context); each process-isolated model starts a
// worker, and pays a context, of its own. A worker runs one request at a time, so its peak
// is its context + its models' resident bytes (footprint - transient) + the largest
// transient among them; a process worker's peak is thus its context + its footprint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "gpu/inventory.h"
#include "plan/plan_types.h"

namespace modelgrid {

struct PlanOptions {
  Strategy strategy = Strategy::kMemoryOptimized;
  // Bytes of one worker's CUDA context for every GPU; unset takes each GPU's own (from the
  // catalog). 0 is a context that costs nothing here (counted elsewhere, say in the
  // models' memory_bytes).
  std::optional<uint64_t> context_bytes;
  // Kept free on every GPU that hosts a worker (fragmentation, other tenants). Default 0.
  uint64_t reserve_bytes = 0;
  // Optimal only: the search stops here and keeps its best plan (proven_optimal false).
  double time_limit_seconds = 1.0;
  // Host memory for parked models (0: none). Models that fit no GPU are parked there when
  // they can swap into one (plan/host_tier.h).
  uint64_t host_cache_bytes = 0;
};

// "fill-first", "balance-load", "memory-optimized", "latency-sensitive", "optimal",
// "conventional".
const char* StrategyName(Strategy strategy);
Result<Strategy> ParseStrategy(std::string_view name);
// The five ModelGrid strategies, in the order `--strategy all` prints them.
const std::vector<Strategy>& AllStrategies();

// Checks the inputs: at least one model and one GPU, unique non-empty names, footprints in
// 1 B .. 64 TiB, transients <= footprints, replicas 1..4096, finite non-negative loads,
// context and reserve under 64 TiB, time limit 0..3600 s. Errors name the culprit.
Status ValidatePlanInput(const std::vector<ModelRequest>& models,
                         const std::vector<GpuDevice>& gpus, const PlanOptions& options);

// Plans `models` onto `gpus`. A pure function of its inputs, deterministic except that
// the optimal strategy's result depends on how far it gets before its time limit.
// Thread-safe. Fails only on invalid input (see ValidatePlanInput).
Result<Plan> MakePlan(const std::vector<ModelRequest>& models, const std::vector<GpuDevice>& gpus,
                      const PlanOptions& options);

// The instance name used in plans: "name" for a single replica, "name#2" for the second.
std::string InstanceName(const ModelRequest& model, int replica);
// The model an instance name stands for: "bert" for "bert" and "bert#2". The one parser of
// instance names.
std::string ModelOfInstance(const std::string& instance);

}  // namespace modelgrid
