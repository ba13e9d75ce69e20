// The greedy strategies: fill-first, balance-load, memory-optimized (best-fit decreasing)
// and latency-sensitive. Each is O(instances x GPUs).
#include <algorithm>
#include <numeric>
#include <tuple>

#include "plan/packing.h"

namespace modelgrid::plan_internal {

namespace {

// Instance indices, largest footprint (with own context) first; ties keep model order.
// The whole footprint, not the resident part: a model with a large transient first sets
// its GPU's shared transient, under which later models' transients hide.
std::vector<int> Decreasing(const Packing& p) {
  std::vector<int> order(p.items().size());
  std::iota(order.begin(), order.end(), 0);
  const uint64_t ctx = p.bins().empty() ? 0 : p.bins()[0].context;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return p.AloneSize(a, ctx) > p.AloneSize(b, ctx); });
  return order;
}

double TotalLoad(const Packing& p) {
  double total = 0;
  for (const Item& it : p.items()) total += it.load;
  return total;
}

}  // namespace

void FillFirst(Packing* p) {
  const int bins = static_cast<int>(p->bins().size());
  for (int i = 0; i < static_cast<int>(p->items().size()); ++i) {
    for (int b = 0; b < bins; ++b) {
      if (p->Fits(i, b)) {
        p->Place(i, b);
        break;
      }
    }
  }
}

void MemoryOptimized(Packing* p) {
  const auto& bins = p->bins();
  for (int i : Decreasing(*p)) {
    int best = -1;
    uint64_t best_left = 0;
    for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
      if (!p->Fits(i, b)) continue;
      const uint64_t left = bins[b].usable - bins[b].used - p->Cost(i, b);
      if (best < 0 || left < best_left) {
        best = b;
        best_left = left;
      }
    }
    if (best >= 0) p->Place(i, best);
  }
}

void BalanceLoad(Packing* p) {
  const auto& bins = p->bins();
  if (bins.empty()) return;
  const double n = static_cast<double>(bins.size());
  const double load_share = std::max(TotalLoad(*p) / n, 1e-12);
  double demand = 0;
  for (int i = 0; i < static_cast<int>(p->items().size()); ++i) {
    demand += static_cast<double>(p->AloneSize(i, bins[0].context));
  }
  const double memory_share = std::max(demand / n, 1.0);
  for (int i : Decreasing(*p)) {
    int best = -1;
    double best_score = 0;
    for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
      if (!p->Fits(i, b)) continue;
      // Memory and load after placing, each relative to an even share.
      const double score = (bins[b].used + p->Cost(i, b)) / memory_share +
                           (bins[b].load + p->items()[i].load) / load_share;
      if (best < 0 || score < best_score) {
        best = b;
        best_score = score;
      }
    }
    if (best >= 0) p->Place(i, best);
  }
}

void LatencySensitive(Packing* p) {
  const auto& bins = p->bins();
  const auto& items = p->items();
  const int n = static_cast<int>(items.size());
  if (bins.empty() || n == 0) return;
  uint64_t largest = 0;
  for (const Bin& b : bins) largest = std::max(largest, b.usable);
  const double mean_load = TotalLoad(*p) / n;
  // Heavy: much busier than average, or a quarter of a GPU. Kept off latency GPUs.
  auto heavy = [&](int i) {
    return items[i].load >= 2 * mean_load || items[i].footprint >= largest / 4;
  };
  std::vector<int> latency, rest;
  for (int i : Decreasing(*p)) (items[i].latency_sensitive ? latency : rest).push_back(i);
  // Latency-sensitive first, busiest first, each onto the least contended GPU.
  std::stable_sort(latency.begin(), latency.end(),
                   [&](int a, int b) { return items[a].load > items[b].load; });
  for (int i : latency) {
    int best = -1;
    for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
      if (!p->Fits(i, b)) continue;
      if (best < 0 || std::tie(bins[b].latency_count, bins[b].load, bins[b].used) <
                          std::tie(bins[best].latency_count, bins[best].load, bins[best].used)) {
        best = b;
      }
    }
    if (best >= 0) p->Place(i, best);
  }
  // The rest, heavy ones first so that they claim the GPUs without latency-sensitive
  // models: best fit there; only when none fits, the least loaded latency GPU.
  std::stable_partition(rest.begin(), rest.end(), heavy);
  for (int i : rest) {
    int best = -1, fallback = -1;
    for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
      if (!p->Fits(i, b)) continue;
      if (bins[b].latency_count == 0) {
        if (best < 0 || bins[b].usable - bins[b].used < bins[best].usable - bins[best].used) {
          best = b;
        }
      } else if (fallback < 0 || bins[b].load < bins[fallback].load) {
        fallback = b;
      }
    }
    if (best < 0) best = fallback;
    if (best >= 0) p->Place(i, best);
  }
}

}  // namespace modelgrid::plan_internal
