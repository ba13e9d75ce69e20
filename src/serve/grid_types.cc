#include "serve/grid_types.h"

#include <algorithm>

#include "formats/dtype.h"
#include "plan/worker_budget.h"

namespace modelgrid {

InferStats Model::StatsSnapshot(std::string* last_failure) const {
  MutexLock lock(&stats_mu);
  *last_failure = failure_;
  return stats;
}

void Model::SetFailure(std::string why) {
  MutexLock lock(&stats_mu);
  failure_ = std::move(why);
}

std::string Model::failure() const {
  MutexLock lock(&stats_mu);
  return failure_;
}

std::shared_ptr<Placement> Route(const Placements& placements) {
  std::shared_ptr<Placement> best;
  for (const auto& p : placements) {
    if (!p->worker->up()) continue;
    if (!best || p->requests.count() < best->requests.count()) best = p;
  }
  if (!best && !placements.empty()) best = placements.front();
  return best;
}

bool OtherInstanceUp(const Placements& placements, const Worker* except) {
  return std::any_of(placements.begin(), placements.end(),
                     [&](const auto& p) { return p->worker.get() != except && p->worker->up(); });
}

const char* TierName(Tier tier) {
  switch (tier) {
    case Tier::kResident:
      return "resident";
    case Tier::kParking:
      return "parking";
    case Tier::kParked:
      return "parked";
    case Tier::kUnparking:
      return "unparking";
    case Tier::kCold:
      return "cold";
  }
  return "unknown";
}

uint64_t WorkerBudget(const Worker& worker, const Worker::Slots& slots, const Model* with) {
  SharedWorkerBudget budget;  // a worker of its own reuses nothing: no transient part
  for (const auto& [slot, m] : slots) {
    if (m->tiered && !OnDevice(m->tier) && m.get() != with) continue;
    budget.Add(m->planned_bytes, worker.isolated ? 0 : m->transient_bytes);
  }
  return budget.bytes();
}

FootprintKey FootprintKeyFor(const Model& m, const std::string& device_name) {
  // Served models are warmed up at their maximum batch with the model file's own weights:
  // the dtype in the key is that of the measurement's inputs, which serve always sends as
  // fp32 today.
  return FootprintKey{m.digest, std::max<int64_t>(1, m.served.config.max_batch_size),
                      std::string(ComputeDTypeName(ComputeDType::kFp32)), device_name};
}

}  // namespace modelgrid
