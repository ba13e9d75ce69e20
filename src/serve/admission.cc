#include "serve/admission.h"

#include <algorithm>

#include "plan/worker_budget.h"

namespace modelgrid {

std::string MiBText(uint64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

namespace {

uint64_t CostOn(const AdmissionRequest& r, const DeviceState& d, bool* new_worker) {
  *new_worker = r.isolation == Isolation::kProcess || !d.has_shared_worker;
  if (r.isolation == Isolation::kProcess) return r.footprint_bytes + d.context_bytes;
  // A new shared worker starts with no transient, whatever the field says.
  const SharedWorkerBudget shared{0, d.has_shared_worker ? d.shared_transient_bytes : 0};
  return shared.CostOf(r.footprint_bytes, r.transient_bytes) + (*new_worker ? d.context_bytes : 0);
}

}  // namespace

uint64_t FreeBytes(const DeviceState& d) {
  uint64_t free = d.capacity_bytes > d.planned_bytes ? d.capacity_bytes - d.planned_bytes : 0;
  if (d.measured_free_bytes) free = std::min(free, *d.measured_free_bytes);
  return free;
}

Result<Admission> Admit(const AdmissionRequest& request, const std::vector<DeviceState>& devices) {
  std::optional<Admission> best;
  uint64_t best_left = 0;
  uint64_t smallest_gap = UINT64_MAX;
  std::string gap_where;
  bool forced_found = false;
  for (const DeviceState& d : devices) {
    if (request.device && *request.device != d.index) continue;
    forced_found = true;
    bool new_worker = false;
    const uint64_t cost = CostOn(request, d, &new_worker);
    const uint64_t free = FreeBytes(d);
    if (cost > free) {
      if (cost - free < smallest_gap) {
        smallest_gap = cost - free;
        gap_where = d.label;
      }
      continue;
    }
    const uint64_t left = free - cost;
    bool better = !best;
    if (best) {
      switch (request.strategy) {
        case Strategy::kFillFirst:
        case Strategy::kConventional:
          better = false;  // the first that fits
          break;
        case Strategy::kBalanceLoad:
        case Strategy::kLatencySensitive:
          better = left > best_left;
          break;
        default:
          better = left < best_left;
          break;
      }
    }
    if (better) {
      best = Admission{d.index, new_worker, cost};
      best_left = left;
    }
  }
  if (request.device && !forced_found) {
    return InvalidArgument("there is no device " + std::to_string(*request.device));
  }
  if (best) return *best;
  std::string where;
  for (const DeviceState& d : devices) {
    if (request.device && *request.device != d.index) continue;
    if (!where.empty()) where += ", ";
    where += d.label + " has " + MiBText(FreeBytes(d)) + " free of " + MiBText(d.capacity_bytes);
    if (d.measured_free_bytes) where += " (measured free " + MiBText(*d.measured_free_bytes) + ")";
  }
  return ResourceExhausted("model " + request.model + " needs " + MiBText(request.footprint_bytes) +
                           " (plus a worker context where it would start one) but no device has "
                           "room: " +
                           where + "; at least " + MiBText(smallest_gap) + " more is needed on " +
                           gap_where);
}

double Fragmentation(const std::vector<DeviceState>& devices) {
  uint64_t total = 0, largest = 0;
  for (const DeviceState& d : devices) {
    const uint64_t free = FreeBytes(d);
    total += free;
    largest = std::max(largest, free);
  }
  return total == 0 ? 0.0 : 1.0 - static_cast<double>(largest) / static_cast<double>(total);
}

}  // namespace modelgrid
