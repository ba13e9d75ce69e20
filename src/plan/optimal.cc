// The exact strategy: bin completion (Korf 2002) over GPUs, minimising the GPUs used.
//
// For k = incumbent - 1, incumbent - 2, ... down to the lower bound it asks "do the
// instances fit in k GPUs?"; a "no" proves the incumbent minimal.
// Each level of the search fills one GPU completely with a maximal set of instances that
// contains the largest instance left; a set whose waste would push the total waste past
// what k GPUs allow is pruned. Identical GPUs are interchangeable (only the first unused
// one of each kind is tried) and so are identical instances (a skipped instance skips its
// twins). A first-fit/best-fit decreasing packing is the first incumbent; a deadline
// bounds the whole search, and the result says whether the GPU count is proven minimal.
#include <algorithm>
#include <chrono>
#include <numeric>
#include <tuple>

#include "plan/packing.h"

namespace modelgrid::plan_internal {

namespace {

using Clock = std::chrono::steady_clock;

enum class SearchResult { kFound, kInfeasible, kTimeout };

class BinCompletion {
 public:
  // `empty` has no placements; `subset` are the instances to pack into at most `k` GPUs.
  BinCompletion(const Packing& empty, const std::vector<int>& subset, int k,
                Clock::time_point deadline)
      : p_(empty), k_(k), deadline_(deadline) {
    const auto& bins = p_.bins();
    ctx_min_ = bins.empty() ? 0 : bins[0].context;
    for (const Bin& b : bins) ctx_min_ = std::min(ctx_min_, b.context);
    order_ = subset;
    const auto& items = p_.items();
    auto key = [&](int i) {
      const Item& it = items[i];
      // Content first (descending, for the room cut in Fill); twins must agree on
      // everything Fits and Cost read.
      return std::make_tuple(p_.BaseSize(i, ctx_min_), it.transient, it.process,
                             it.group_size > 1 ? it.model : -1);
    };
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return key(a) > key(b); });
    const int n = static_cast<int>(order_.size());
    class_.resize(n);
    content_.resize(n);
    for (int j = 0; j < n; ++j) {
      class_[j] = (j > 0 && key(order_[j]) == key(order_[j - 1])) ? class_[j - 1] : j;
      content_[j] = p_.BaseSize(order_[j], ctx_min_);
    }
    assigned_.assign(n, 0);
    remaining_ = n;
    bin_used_.assign(bins.size(), 0);
    // Waste the k GPUs can absorb: capacity of the k largest minus contents (process
    // footprints and contexts, shared resident parts) and the shared contexts any packing
    // into k GPUs must pay. Shared transients count as waste (see Waste()).
    std::vector<uint64_t> caps;
    for (const Bin& b : bins) {
      if (b.usable > ctx_min_) caps.push_back(b.usable);
    }
    std::sort(caps.rbegin(), caps.rend());
    int process = 0, shared = 0;
    __int128 demand = 0, shared_demand = 0;
    uint64_t max_transient = 0;
    for (int j = 0; j < n; ++j) {
      demand += content_[j];
      (items[order_[j]].process ? process : shared) += 1;
      if (!items[order_[j]].process) {
        shared_demand += content_[j];
        max_transient = std::max(max_transient, items[order_[j]].transient);
      }
    }
    shared_demand += max_transient;
    const int kk = std::min<int>(k_, static_cast<int>(caps.size()));
    __int128 capsum = 0;
    for (int j = 0; j < kk; ++j) capsum += caps[j];
    // Shared instances need shared workers: at least one per GPU without a process worker,
    // and enough GPUs to hold their resident parts and largest transient next to a context.
    int shared_contexts = 0;
    if (shared > 0 && !caps.empty()) {
      const __int128 room = caps[0] - ctx_min_;
      shared_contexts =
          std::max<int>({1, kk - process, static_cast<int>((shared_demand + room - 1) / room)});
    }
    const __int128 allowance = capsum - demand - __int128{shared_contexts} * ctx_min_;
    allowance_ =
        allowance < 0 ? -1 : static_cast<int64_t>(std::min<__int128>(allowance, INT64_MAX));
  }

  SearchResult Run() {
    if (allowance_ < 0) return SearchResult::kInfeasible;
    if (Complete(0, 0)) return SearchResult::kFound;
    return timeout_ ? SearchResult::kTimeout : SearchResult::kInfeasible;
  }

  const Packing& packing() const { return p_; }

 private:
  bool TimeUp() {
    if (timeout_) return true;
    if ((++nodes_ & 255) == 0 && Clock::now() > deadline_) timeout_ = true;
    return timeout_;
  }

  // Bytes of `bin` not holding contents or the unavoidable contexts, the shared transient
  // included: adding an instance then lowers the waste by exactly its content (plus
  // ctx_min_ for the first shared one), which the cut in Fill relies on.
  int64_t Waste(int bin) const {
    const Bin& b = p_.bins()[bin];
    return static_cast<int64_t>(b.usable - b.used) +
           static_cast<int64_t>(b.workers) * static_cast<int64_t>(b.context - ctx_min_) +
           static_cast<int64_t>(b.shared_transient);
  }

  void Assign(int pos, int bin) {
    p_.Place(order_[pos], bin);
    assigned_[pos] = 1;
    --remaining_;
  }
  void Unassign(int pos) {
    p_.Remove(order_[pos]);
    assigned_[pos] = 0;
    ++remaining_;
  }

  // Opens the next GPU with the largest instance left. On success the packing holds the
  // solution (nothing is undone).
  bool Complete(int bins_used, int64_t waste) {
    if (remaining_ == 0) return true;
    if (bins_used >= k_ || TimeUp()) return false;
    const int n = static_cast<int>(order_.size());
    int first = 0;
    while (assigned_[first]) ++first;
    std::vector<uint64_t> suffix(n + 1, 0);
    for (int j = n - 1; j >= 0; --j) suffix[j] = suffix[j + 1] + (assigned_[j] ? 0 : content_[j]);
    const auto& bins = p_.bins();
    std::vector<std::pair<uint64_t, uint64_t>> tried;  // (usable, context) kinds
    for (int b = 0; b < static_cast<int>(bins.size()); ++b) {
      if (bin_used_[b]) continue;
      const auto kind = std::make_pair(bins[b].usable, bins[b].context);
      if (std::find(tried.begin(), tried.end(), kind) != tried.end()) continue;
      tried.push_back(kind);
      if (!p_.Fits(order_[first], b)) continue;
      bin_used_[b] = 1;
      Assign(first, b);
      if (Fill(b, first + 1, waste, bins_used, suffix)) return true;
      Unassign(first);
      bin_used_[b] = 0;
      if (timeout_) return false;
    }
    return false;
  }

  // Adds instances at positions >= j to `bin`, largest first, then tries the bin as it is.
  bool Fill(int bin, int j, int64_t waste, int bins_used, const std::vector<uint64_t>& suffix) {
    if (TimeUp()) return false;
    const Bin& b = p_.bins()[bin];
    const int n = static_cast<int>(order_.size());
    // However it is completed, this GPU wastes at least `now - fillable`.
    const int64_t now = Waste(bin);
    const uint64_t space = b.usable - b.used;
    const uint64_t fillable = std::min<uint64_t>(space, suffix[j] + (b.has_shared ? 0 : ctx_min_));
    if (waste + now - static_cast<int64_t>(fillable) > allowance_) return false;
    // Instances larger than the room left cannot be added: start past them.
    j = std::max<int>(j, static_cast<int>(std::lower_bound(content_.begin(), content_.end(), space,
                                                           std::greater<uint64_t>()) -
                                          content_.begin()));
    for (; j < n; ++j) {
      if (assigned_[j]) continue;
      if (p_.Fits(order_[j], bin)) {
        Assign(j, bin);
        if (Fill(bin, j + 1, waste, bins_used, suffix)) return true;
        Unassign(j);
        if (timeout_) return false;
      }
      while (j + 1 < n && class_[j + 1] == class_[j]) ++j;  // its twins are skipped too
    }
    // Leaf: only maximal sets (nothing left that still fits) within the allowance.
    if (waste + now > allowance_) return false;
    for (int pos = n - 1; pos >= 0; --pos) {
      if (!assigned_[pos] && p_.Fits(order_[pos], bin)) return false;
    }
    return Complete(bins_used + 1, waste + now);
  }

  Packing p_;
  int k_;
  Clock::time_point deadline_;
  uint64_t ctx_min_ = 0;
  int64_t allowance_ = 0;
  std::vector<int> order_;  // instances, largest first
  std::vector<int> class_;  // first position of each position's twins
  std::vector<uint64_t> content_;
  std::vector<char> assigned_;  // by position
  std::vector<char> bin_used_;
  int remaining_ = 0;
  bool timeout_ = false;
  uint64_t nodes_ = 0;
};

bool Better(const Packing& a, const Packing& b) {
  if (a.Placed() != b.Placed()) return a.Placed() > b.Placed();
  return a.BinsUsed() < b.BinsUsed();
}

void FirstFitDecreasing(Packing* p) {
  std::vector<int> order(p->items().size());
  std::iota(order.begin(), order.end(), 0);
  const uint64_t ctx = p->bins().empty() ? 0 : p->bins()[0].context;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return p->AloneSize(a, ctx) > p->AloneSize(b, ctx); });
  for (int i : order) {
    for (int b = 0; b < static_cast<int>(p->bins().size()); ++b) {
      if (p->Fits(i, b)) {
        p->Place(i, b);
        break;
      }
    }
  }
}

}  // namespace

OptimalOutcome Optimal(Packing* p, double time_limit_seconds) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(0.0, time_limit_seconds)));
  const Packing empty = *p;
  const int n = static_cast<int>(p->items().size());
  const int m = static_cast<int>(p->bins().size());
  Packing best = empty;
  MemoryOptimized(&best);
  {
    Packing ffd = empty;
    FirstFitDecreasing(&ffd);
    if (Better(ffd, best)) best = ffd;
  }
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  OptimalOutcome outcome;
  outcome.lower_bound_gpus = LowerBoundGpus(empty, all);

  // Not everything fits: place as many instances as possible, smallest first (by what
  // they add beside others: their content, then their transient).
  if (best.Placed() < n) {
    const uint64_t ctx = m ? p->bins()[0].context : 0;
    std::vector<int> ascending = all;
    auto key = [&](int i) {
      return std::make_pair(empty.BaseSize(i, ctx), empty.items()[i].transient);
    };
    std::stable_sort(ascending.begin(), ascending.end(),
                     [&](int a, int b) { return key(a) < key(b); });
    for (int count = best.Placed() + 1; count <= n; ++count) {
      const std::vector<int> subset(ascending.begin(), ascending.begin() + count);
      if (LowerBoundGpus(empty, subset) > m) break;
      BinCompletion search(empty, subset, m, deadline);
      if (search.Run() != SearchResult::kFound) break;
      best = search.packing();
    }
  }

  // Fewest GPUs for what is placed.
  std::vector<int> placed;
  for (int i = 0; i < n; ++i) {
    if (best.BinOf(i) >= 0) placed.push_back(i);
  }
  // Downwards from the incumbent: every step that finds a packing improves the plan, so a
  // deadline still leaves the best plan found; "infeasible" proves the current one minimal.
  const int lower = LowerBoundGpus(empty, placed);
  bool proven = best.Placed() == n && best.BinsUsed() <= lower;
  for (int k = best.BinsUsed() - 1; k >= lower && !proven; --k) {
    BinCompletion search(empty, placed, k, deadline);
    const SearchResult r = search.Run();
    if (r == SearchResult::kTimeout) break;
    if (r == SearchResult::kInfeasible) {
      proven = best.Placed() == n;
      break;
    }
    best = search.packing();
    k = best.BinsUsed();
    proven = best.Placed() == n && k <= lower;
  }
  Rebalance(&best, 4 * n + 16);
  *p = best;
  outcome.proven_optimal = proven;
  return outcome;
}

}  // namespace modelgrid::plan_internal
