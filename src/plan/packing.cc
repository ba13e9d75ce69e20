#include "plan/packing.h"

#include <algorithm>

#include "plan/worker_budget.h"

namespace modelgrid::plan_internal {

Packing::Packing(std::vector<Item> items, std::vector<Bin> bins)
    : items_(std::move(items)), bins_(std::move(bins)), bin_of_(items_.size(), -1) {}

uint64_t Packing::Cost(int item, int bin) const {
  const Item& it = items_[item];
  const Bin& b = bins_[bin];
  if (it.process) return it.footprint + b.context;
  const SharedWorkerBudget shared{0, b.shared_transient};
  return shared.CostOf(it.footprint, it.transient) + (b.has_shared ? 0 : b.context);
}

bool Packing::Fits(int item, int bin) const {
  const Bin& b = bins_[bin];
  const uint64_t cost = Cost(item, bin);
  if (b.used > b.usable || cost > b.usable - b.used) return false;
  const Item& it = items_[item];
  if (it.group_size > 1) {
    for (int other : b.items) {
      if (items_[other].model == it.model) return false;
    }
  }
  return true;
}

void Packing::Place(int item, int bin) {
  Bin& b = bins_[bin];
  const Item& it = items_[item];
  b.used += Cost(item, bin);
  if (it.process || !b.has_shared) ++b.workers;
  if (!it.process) {
    b.has_shared = true;
    b.shared_transient = std::max(b.shared_transient, it.transient);
  }
  if (it.latency_sensitive) ++b.latency_count;
  b.load += it.load;
  b.items.push_back(item);
  bin_of_[item] = bin;
  ++placed_;
}

void Packing::Remove(int item) {
  Bin& b = bins_[bin_of_[item]];
  b.items.erase(std::find(b.items.begin(), b.items.end(), item));
  bin_of_[item] = -1;
  --placed_;
  // Recompute: the shared context goes with the last shared item, the shared transient
  // may shrink to the next largest.
  b.used = 0;
  b.workers = 0;
  b.has_shared = false;
  b.shared_transient = 0;
  b.latency_count = 0;
  b.load = 0;
  SharedWorkerBudget shared;
  for (int other : b.items) {
    const Item& it = items_[other];
    if (it.process) {
      b.used += it.footprint + b.context;
      ++b.workers;
    } else {
      shared.Add(it.footprint, it.transient);
      b.has_shared = true;
    }
    if (it.latency_sensitive) ++b.latency_count;
    b.load += it.load;
  }
  b.shared_transient = shared.largest_transient_bytes;
  if (b.has_shared) {
    b.used += b.context + shared.bytes();
    ++b.workers;
  }
}

int Packing::BinsUsed() const {
  int n = 0;
  for (const Bin& b : bins_) n += b.items.empty() ? 0 : 1;
  return n;
}

std::vector<Item> ExpandItems(const std::vector<ModelRequest>& models, bool all_process) {
  std::vector<Item> items;
  for (size_t m = 0; m < models.size(); ++m) {
    const ModelRequest& r = models[m];
    const int replicas = std::max(1, r.replicas);
    for (int k = 0; k < replicas; ++k) {
      Item it;
      it.model = static_cast<int>(m);
      it.replica = k;
      it.group_size = replicas;
      it.footprint = r.footprint_bytes;
      it.transient = std::min(r.transient_bytes, r.footprint_bytes);
      it.process = all_process || r.isolation == Isolation::kProcess;
      it.latency_sensitive = r.latency_sensitive;
      it.load = r.expected_load / replicas;
      items.push_back(it);
    }
  }
  return items;
}

std::vector<Bin> MakeBins(const std::vector<GpuDevice>& gpus, std::optional<uint64_t> context_bytes,
                          uint64_t reserve_bytes) {
  std::vector<Bin> bins;
  for (const GpuDevice& g : gpus) {
    Bin b;
    b.usable = g.capacity_bytes > reserve_bytes ? g.capacity_bytes - reserve_bytes : 0;
    b.context = context_bytes.value_or(g.context_bytes);
    bins.push_back(b);
  }
  return bins;
}

int LowerBoundGpus(const Packing& p, const std::vector<int>& items) {
  const auto& bins = p.bins();
  const int m = static_cast<int>(bins.size());
  if (items.empty()) return 0;
  if (m == 0) return 1;
  uint64_t ctx = bins[0].context;
  for (const Bin& b : bins) ctx = std::min(ctx, b.context);
  std::vector<uint64_t> caps;
  for (const Bin& b : bins) {
    if (b.usable > ctx) caps.push_back(b.usable);
  }
  std::sort(caps.rbegin(), caps.rend());
  const uint64_t largest = caps.empty() ? 0 : caps[0];
  // Process footprints and contexts, shared resident parts; the GPU holding the shared
  // item with the largest transient pays that transient at least once.
  uint64_t demand = 0, shared_demand = 0, max_transient = 0;
  int process = 0, shared = 0, max_group = 1;
  for (int i : items) {
    const Item& it = p.items()[i];
    const uint64_t alone = it.footprint + ctx;
    if (alone > largest) return m + 1;
    demand += p.BaseSize(i, ctx);
    (it.process ? process : shared) += 1;
    if (!it.process) {
      shared_demand += p.BaseSize(i, ctx);
      max_transient = std::max(max_transient, it.transient);
    }
    max_group = std::max(max_group, it.group_size);
  }
  demand += max_transient;
  shared_demand += max_transient;
  // Shared workers needed to hold the shared resident parts and the largest transient
  // next to their context.
  const uint64_t room = largest - ctx;
  const int shared_workers = shared > 0 ? static_cast<int>((shared_demand + room - 1) / room) : 0;
  uint64_t capsum = 0;
  for (int j = 1; j <= static_cast<int>(caps.size()); ++j) {
    capsum += caps[j - 1];
    if (j < max_group) continue;
    // Each used GPU without a shared worker hosts at least one process worker.
    const uint64_t shared_contexts = shared > 0 ? std::max({1, j - process, shared_workers}) : 0;
    if (capsum >= demand + shared_contexts * ctx) return j;
  }
  return m + 1;
}

void Rebalance(Packing* p, int max_moves) {
  const auto& bins = p->bins();
  auto fill = [&](int b) {
    return bins[b].usable ? static_cast<double>(bins[b].used) / bins[b].usable : 1.0;
  };
  for (int move = 0; move < max_moves; ++move) {
    int worst = -1;
    for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
      if (!bins[b].items.empty() && (worst < 0 || fill(b) > fill(worst))) worst = b;
    }
    if (worst < 0) return;
    const double before = fill(worst);
    int best_item = -1, best_bin = -1;
    double best_after = before;
    const std::vector<int> candidates = bins[worst].items;
    for (int item : candidates) {
      p->Remove(item);
      const double src = fill(worst);
      for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
        if (b == worst || bins[b].items.empty() || !p->Fits(item, b)) continue;
        const double dst = static_cast<double>(bins[b].used + p->Cost(item, b)) / bins[b].usable;
        const double after = std::max(src, dst);
        if (after < best_after - 1e-9) {
          best_after = after;
          best_item = item;
          best_bin = b;
        }
      }
      p->Place(item, worst);
    }
    if (best_item < 0) return;
    p->Remove(best_item);
    p->Place(best_item, best_bin);
  }
}

}  // namespace modelgrid::plan_internal
