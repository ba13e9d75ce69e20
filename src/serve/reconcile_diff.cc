#include "serve/reconcile_diff.h"

#include <algorithm>
#include <utility>

namespace modelgrid {

RepositoryDiff DiffRepository(const std::map<std::string, std::string>& repository,
                              const std::map<std::string, std::string>& live,
                              const std::map<std::string, std::string>& failed) {
  RepositoryDiff diff;
  for (const auto& [name, signature] : repository) {
    auto loaded = live.find(name);
    if (loaded != live.end() && loaded->second == signature) continue;
    auto broken = failed.find(name);
    if (broken != failed.end() && broken->second == signature) continue;
    diff.load.push_back(name);
  }
  for (const auto& [name, signature] : live) {
    if (!repository.count(name)) diff.unload.push_back(name);
  }
  return diff;
}

std::vector<InstanceMove> DiffPlacement(const std::map<std::string, std::multiset<int>>& wanted,
                                        const std::map<std::string, std::vector<int>>& live) {
  std::vector<InstanceMove> moves;
  for (const auto& [name, devices] : wanted) {
    auto at = live.find(name);
    if (at == live.end()) continue;
    std::multiset<int> left = devices;
    std::vector<size_t> movers;
    for (size_t i = 0; i < at->second.size(); ++i) {
      auto here = left.find(at->second[i]);
      if (here != left.end()) {
        left.erase(here);
      } else {
        movers.push_back(i);
      }
    }
    auto target = left.begin();
    for (size_t i : movers) {
      if (target == left.end()) break;
      moves.push_back({name, i, at->second[i], *target++});
    }
  }
  return moves;
}

std::map<int, int> MatchPlanGpus(const Plan& plan, const std::map<std::string, int>& current_device,
                                 const std::vector<Device>& devices) {
  std::vector<std::pair<uint64_t, std::pair<int, int>>> overlaps;  // bytes, (plan gpu, device)
  for (const PlannedGpu& g : plan.gpus) {
    std::map<int, uint64_t> here;
    for (const auto& w : g.workers) {
      for (size_t i = 0; i < w.models.size(); ++i) {
        auto at = current_device.find(w.models[i]);
        if (at != current_device.end()) here[at->second] += w.model_bytes[i];
      }
    }
    for (const Device& d : devices) {
      if (d.capacity_bytes != g.capacity_bytes) continue;
      overlaps.push_back({here.count(d.index) ? here[d.index] : 0, {g.index, d.index}});
    }
  }
  std::stable_sort(overlaps.begin(), overlaps.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::map<int, int> device_of_plan_gpu;
  std::set<int> taken;
  for (const auto& [bytes, pair] : overlaps) {
    if (device_of_plan_gpu.count(pair.first) || taken.count(pair.second)) continue;
    device_of_plan_gpu[pair.first] = pair.second;
    taken.insert(pair.second);
  }
  for (const PlannedGpu& g : plan.gpus) device_of_plan_gpu.emplace(g.index, g.index);
  return device_of_plan_gpu;
}

}  // namespace modelgrid
