// Internal to plan/: the state every strategy works on. One Item per model instance
// (replicas expanded), one Bin per GPU. Not thread-safe; copyable, so a search can keep
// its best packing.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gpu/inventory.h"
#include "plan/plan_types.h"

namespace modelgrid::plan_internal {

struct Item {
  int model = 0;       // index into the ModelRequest list
  int replica = 0;     // 0-based
  int group_size = 1;  // replicas of the model: at most one per GPU
  uint64_t footprint = 0;
  uint64_t transient = 0;  // part of footprint a shared worker reuses between its models
  bool process = false;    // isolation: process (a worker, and a context, of its own)
  bool latency_sensitive = false;
  double load = 0;  // the model's expected load / replicas
};

struct Bin {
  uint64_t usable = 0;   // capacity - reserve
  uint64_t context = 0;  // bytes of one worker's CUDA context here
  // Contexts + process footprints + shared items' resident parts + shared_transient: the
  // peak of the workers here (reserve not included).
  uint64_t used = 0;
  uint64_t shared_transient = 0;  // the largest transient among the shared items here
  bool has_shared = false;
  int workers = 0;        // contexts paid: shared worker (if any) + process workers
  int latency_count = 0;  // latency-sensitive instances here
  double load = 0;
  std::vector<int> items;
};

class Packing {
 public:
  Packing(std::vector<Item> items, std::vector<Bin> bins);

  // Bytes placing `item` on `bin` adds to its used bytes. Process isolation: the footprint
  // plus a context. Shared: the resident part (footprint - transient), plus what its
  // transient exceeds the bin's shared_transient by, plus a context for the bin's first
  // shared item.
  uint64_t Cost(int item, int bin) const;
  // True when `item` fits in the room left and no replica of its model is there yet.
  bool Fits(int item, int bin) const;
  // Precondition: Fits(item, bin) and item unplaced.
  void Place(int item, int bin);
  // Precondition: item placed.
  void Remove(int item);

  const std::vector<Item>& items() const { return items_; }
  const std::vector<Bin>& bins() const { return bins_; }
  int BinOf(int item) const { return bin_of_[item]; }
  int Placed() const { return placed_; }
  int BinsUsed() const;
  // A lower bound on the bytes `item` adds to any packing, at context `ctx`: the footprint
  // plus a context when process-isolated, only the resident part when shared (its
  // transient may hide under a larger one, its context is the worker's). Bounds sum it.
  uint64_t BaseSize(int item, uint64_t ctx) const {
    const Item& it = items_[item];
    return it.process ? it.footprint + ctx : it.footprint - it.transient;
  }
  // The bytes `item` needs on a GPU beside an existing shared worker without transient
  // bytes: footprint, plus a context when process-isolated. The heuristics' size key.
  uint64_t AloneSize(int item, uint64_t ctx) const {
    return items_[item].footprint + (items_[item].process ? ctx : 0);
  }

 private:
  std::vector<Item> items_;
  std::vector<Bin> bins_;
  std::vector<int> bin_of_;
  int placed_ = 0;
};

// Replicas expanded in model order; `all_process` forces process isolation (the
// conventional baseline).
std::vector<Item> ExpandItems(const std::vector<ModelRequest>& models, bool all_process);

// One bin per GPU; `context_bytes`, when set, overrides every GPU's context cost.
std::vector<Bin> MakeBins(const std::vector<GpuDevice>& gpus, std::optional<uint64_t> context_bytes,
                          uint64_t reserve_bytes);

// The fewest GPUs any packing of all of `items` can use (capacity, contexts, resident
// bytes, the largest shared transient once, replica counts), or bins + 1 when they cannot
// all be placed. Never more than the true minimum.
int LowerBoundGpus(const Packing& packing, const std::vector<int>& items);

// Strategies: each fills an empty packing. heuristics.cc, optimal.cc.
void FillFirst(Packing* p);
void BalanceLoad(Packing* p);
void MemoryOptimized(Packing* p);
void LatencySensitive(Packing* p);

struct OptimalOutcome {
  bool proven_optimal = false;  // all placed, GPU count equal to the proven minimum
  int lower_bound_gpus = 0;
};
OptimalOutcome Optimal(Packing* p, double time_limit_seconds);

// Moves instances between used GPUs to lower the fullest GPU's fill, never opening a GPU.
void Rebalance(Packing* p, int max_moves);

}  // namespace modelgrid::plan_internal
