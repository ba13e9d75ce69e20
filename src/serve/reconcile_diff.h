// What to change to get from the live state to a wanted one: pure functions of values
// (TF Serving's aspired-version policy), table-tested in tests/serve_reconcile_diff_test.cc.
// The Reconciler (serve/reconciler.h) applies what they return.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "plan/plan_types.h"
#include "serve/grid_types.h"

namespace modelgrid {

// Poll mode. `repository`: each model folder with its RepositorySignature ("" when it cannot
// be read); `live`: each loaded model's signature; `failed`: the signature each model last
// failed to load with. A model loads when it is new or its signature changed, except when
// that signature already failed (a broken folder is retried only once it changes again); a
// model unloads when its folder is gone.
struct RepositoryDiff {
  std::vector<std::string> load;    // new or changed, in name order
  std::vector<std::string> unload;  // gone from the repository, in name order
  bool operator==(const RepositoryDiff&) const = default;
};
RepositoryDiff DiffRepository(const std::map<std::string, std::string>& repository,
                              const std::map<std::string, std::string>& live,
                              const std::map<std::string, std::string>& failed);

// Re-planning. `wanted`: per model, the devices a fresh plan puts its instances on (one
// entry per instance); `live`: per model, the device of each of its placements, in order.
// An instance already on a wanted device stays there; the others move, in order, to the
// wanted devices left over. A model absent from `wanted` does not move.
struct InstanceMove {
  std::string model;
  size_t placement = 0;  // index into the model's live placements
  int from_device = 0;
  int to_device = 0;
  bool operator==(const InstanceMove&) const = default;
};
std::vector<InstanceMove> DiffPlacement(const std::map<std::string, std::multiset<int>>& wanted,
                                        const std::map<std::string, std::vector<int>>& live);

// A plan's GPUs are interchangeable when their capacities match: maps each plan GPU to the
// live device of the same capacity that already holds most of its bytes, so that as few
// instances move as possible. `current_device`: each live instance's device, by instance
// name ("m", "m#2"). A plan GPU without a match keeps its own index.
std::map<int, int> MatchPlanGpus(const Plan& plan, const std::map<std::string, int>& current_device,
                                 const std::vector<Device>& devices);

}  // namespace modelgrid
