// Every strategy against brute force on small random instances, properties on large ones,
// and table-driven checks of the context and shared-transient accounting.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>

#include "plan/packing.h"
#include "plan/planner.h"

namespace modelgrid {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kMiB = uint64_t{1} << 20;

std::vector<GpuDevice> Gpus(const std::vector<uint64_t>& capacities, uint64_t context) {
  std::vector<GpuDevice> gpus;
  for (uint64_t c : capacities) {
    GpuDevice g;
    g.index = static_cast<int>(gpus.size());
    g.name = std::to_string(c / kGiB) + "GiB";
    g.capacity_bytes = c;
    g.free_bytes = c;
    g.context_bytes = context;
    gpus.push_back(g);
  }
  return gpus;
}

ModelRequest Model(const std::string& name, uint64_t bytes, Isolation iso = Isolation::kShared,
                   int replicas = 1) {
  ModelRequest m;
  m.name = name;
  m.footprint_bytes = bytes;
  m.isolation = iso;
  m.replicas = replicas;
  return m;
}

// A model whose footprint `bytes` holds `transient` bytes a shared worker reuses.
ModelRequest Transient(const std::string& name, uint64_t bytes, uint64_t transient,
                       Isolation iso = Isolation::kShared) {
  ModelRequest m = Model(name, bytes, iso);
  m.transient_bytes = transient;
  return m;
}

// Checks the planner's contract on `plan` independently of the planner's own bookkeeping.
void ExpectValid(const Plan& plan, const std::vector<ModelRequest>& models,
                 const std::vector<GpuDevice>& gpus, uint64_t reserve = 0) {
  std::map<std::string, int> seen;
  std::map<std::string, std::set<int>> gpus_of_model;
  std::map<std::string, const ModelRequest*> by_name;
  for (const auto& m : models) by_name[m.name] = &m;
  ASSERT_EQ(plan.gpus.size(), gpus.size());
  int used = 0;
  for (const auto& g : plan.gpus) {
    uint64_t bytes = g.workers.empty() ? 0 : reserve;
    int shared_workers = 0;
    for (const auto& w : g.workers) {
      EXPECT_EQ(w.context_bytes, gpus[g.index].context_bytes);
      bytes += w.context_bytes;
      if (w.isolation == Isolation::kShared) ++shared_workers;
      if (w.isolation == Isolation::kProcess) {
        EXPECT_EQ(w.models.size(), 1u);
      }
      EXPECT_FALSE(w.models.empty());
      ASSERT_EQ(w.model_bytes.size(), w.models.size());
      ASSERT_EQ(w.transient_bytes.size(), w.models.size());
      // A worker's peak: its models' resident bytes and its largest transient once.
      uint64_t peak_transient = 0;
      for (size_t i = 0; i < w.models.size(); ++i) {
        const std::string model = w.models[i].substr(0, w.models[i].find('#'));
        ASSERT_TRUE(by_name.count(model)) << w.models[i];
        EXPECT_EQ(w.model_bytes[i], by_name[model]->footprint_bytes);
        EXPECT_EQ(w.transient_bytes[i], by_name[model]->transient_bytes);
        ASSERT_LE(w.transient_bytes[i], w.model_bytes[i]);
        bytes += w.model_bytes[i] - w.transient_bytes[i];
        peak_transient = std::max(peak_transient, w.transient_bytes[i]);
        ++seen[w.models[i]];
        EXPECT_TRUE(gpus_of_model[model].insert(g.index).second)
            << "two replicas of " << model << " on GPU " << g.index;
      }
      EXPECT_EQ(w.transient_peak_bytes, peak_transient);
      bytes += peak_transient;
    }
    EXPECT_LE(shared_workers, 1);
    EXPECT_EQ(bytes, g.planned_bytes) << "GPU " << g.index;
    EXPECT_LE(g.planned_bytes, g.capacity_bytes) << "over-commit on GPU " << g.index;
    used += g.workers.empty() ? 0 : 1;
  }
  EXPECT_EQ(used, plan.gpus_used);
  for (const auto& u : plan.unplaced) {
    ++seen[u.name];
    EXPECT_FALSE(u.reason.empty());
  }
  size_t instances = 0;
  for (const auto& m : models) {
    instances += m.replicas;
    for (int r = 0; r < m.replicas; ++r) EXPECT_EQ(seen[InstanceName(m, r)], 1) << m.name;
  }
  EXPECT_EQ(seen.size(), instances);
  EXPECT_EQ(plan.placed_instances + plan.unplaced.size(), instances);
}

struct Instance {
  std::vector<ModelRequest> models;
  std::vector<GpuDevice> gpus;
};

// The fewest GPUs that hold every instance, by trying every assignment; -1 if none does.
// A GPU's bytes: one context per process instance plus its footprint; for its shared
// instances one context, their resident bytes and the largest of their transients.
int BruteForceMinGpus(const Instance& in) {
  struct Inst {
    int model;
    uint64_t bytes;
    uint64_t transient;
    bool process;
  };
  std::vector<Inst> inst;
  for (size_t m = 0; m < in.models.size(); ++m) {
    for (int r = 0; r < in.models[m].replicas; ++r) {
      inst.push_back({static_cast<int>(m), in.models[m].footprint_bytes,
                      in.models[m].transient_bytes, in.models[m].isolation == Isolation::kProcess});
    }
  }
  const int n = static_cast<int>(inst.size()), g = static_cast<int>(in.gpus.size());
  std::vector<int> assign(n, 0);
  int best = -1;
  while (true) {
    std::vector<uint64_t> used(g, 0), transient(g, 0);
    std::vector<bool> shared(g, false), any(g, false);
    std::set<std::pair<int, int>> model_gpu;
    bool ok = true;
    for (int i = 0; i < n && ok; ++i) {
      const int b = assign[i];
      any[b] = true;
      if (inst[i].process) {
        used[b] += inst[i].bytes + in.gpus[b].context_bytes;
      } else {
        used[b] += inst[i].bytes - inst[i].transient;
        transient[b] = std::max(transient[b], inst[i].transient);
        if (!shared[b]) used[b] += in.gpus[b].context_bytes;
        shared[b] = true;
      }
      ok = model_gpu.insert({inst[i].model, b}).second;
    }
    for (int b = 0; b < g && ok; ++b) ok = used[b] + transient[b] <= in.gpus[b].capacity_bytes;
    if (ok) {
      int count = 0;
      for (int b = 0; b < g; ++b) count += any[b];
      if (best < 0 || count < best) best = count;
    }
    int i = 0;
    while (i < n && ++assign[i] == g) assign[i++] = 0;
    if (i == n) break;
  }
  return best;
}

Instance RandomSmall(std::mt19937& rng) {
  Instance in;
  const int gpus = std::uniform_int_distribution<int>(1, 4)(rng);
  const bool identical = rng() % 2;
  std::vector<uint64_t> caps;
  for (int i = 0; i < gpus; ++i) caps.push_back((identical ? 16 : 8 + 4 * (rng() % 3)) * kGiB);
  in.gpus = Gpus(caps, kGiB);
  int instances = 0;
  const int target = std::uniform_int_distribution<int>(1, 7)(rng);
  while (instances < target) {
    const int replicas = (rng() % 5 == 0 && target - instances >= 2) ? 2 : 1;
    const uint64_t bytes = std::uniform_int_distribution<uint64_t>(256, 10 * 1024)(rng) * kMiB;
    const Isolation iso = rng() % 4 == 0 ? Isolation::kProcess : Isolation::kShared;
    in.models.push_back(Model("m" + std::to_string(in.models.size()), bytes, iso, replicas));
    // Half the models have a transient part: none to all of the footprint.
    if (rng() % 2) {
      in.models.back().transient_bytes = std::uniform_int_distribution<uint64_t>(0, bytes)(rng);
    }
    in.models.back().latency_sensitive = rng() % 3 == 0;
    in.models.back().expected_load = std::uniform_real_distribution<double>(0.1, 5)(rng);
    instances += replicas;
  }
  return in;
}

const std::vector<Strategy> kEvery = {Strategy::kFillFirst,       Strategy::kBalanceLoad,
                                      Strategy::kMemoryOptimized, Strategy::kLatencySensitive,
                                      Strategy::kOptimal,         Strategy::kConventional};

TEST(PlanBruteForce, OptimalMatchesBruteForceAndHeuristicsNeverBeatIt) {
  std::mt19937 rng(20240611);
  int infeasible = 0;
  std::map<std::string, int> misses;
  for (int trial = 0; trial < 400; ++trial) {
    const Instance in = RandomSmall(rng);
    const int best = BruteForceMinGpus(in);
    for (Strategy s : kEvery) {
      PlanOptions o;
      o.strategy = s;
      auto plan = MakePlan(in.models, in.gpus, o);
      ASSERT_TRUE(plan.ok()) << plan.status().ToString();
      SCOPED_TRACE("trial " + std::to_string(trial) + " " + StrategyName(s));
      ExpectValid(*plan, in.models, in.gpus);
      if (s == Strategy::kConventional) continue;  // a different problem: all process
      if (best >= 0) {
        EXPECT_LE(plan->lower_bound_gpus, best);
      }
      if (plan->unplaced.empty()) {
        EXPECT_GE(plan->gpus_used, best);
      }
      if (s == Strategy::kOptimal) {
        if (best >= 0) {
          EXPECT_TRUE(plan->unplaced.empty());
          EXPECT_EQ(plan->gpus_used, best);
          EXPECT_TRUE(plan->proven_optimal);
        } else {
          EXPECT_FALSE(plan->unplaced.empty());
          EXPECT_FALSE(plan->proven_optimal);
        }
      } else if (best >= 0 && (!plan->unplaced.empty() || plan->gpus_used > best)) {
        ++misses[StrategyName(s)];
      }
    }
    infeasible += best < 0;
  }
  // The generator must exercise both sides.
  EXPECT_GT(infeasible, 10);
  EXPECT_LT(infeasible, 300);
  for (const auto& [name, count] : misses) {
    std::printf("[          ] %s: %d of %d feasible instances worse than brute force\n",
                name.c_str(), count, 400 - infeasible);
  }
}

TEST(PlanProperties, LargeRandomInstancesKeepTheContract) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<ModelRequest> models;
    for (int i = 0; i < 1500; ++i) {
      const int replicas = rng() % 10 == 0 ? 1 + static_cast<int>(rng() % 4) : 1;
      const uint64_t bytes = std::uniform_int_distribution<uint64_t>(50, 30 * 1024)(rng) * kMiB;
      models.push_back(Model("model" + std::to_string(i), bytes,
                             rng() % 5 == 0 ? Isolation::kProcess : Isolation::kShared, replicas));
      models.back().latency_sensitive = rng() % 7 == 0;
      if (rng() % 2) models.back().transient_bytes = bytes / (2 + rng() % 8);
    }
    const auto gpus = Gpus(std::vector<uint64_t>(60, 80 * kGiB), 686 * kMiB);
    for (Strategy s : kEvery) {
      PlanOptions o;
      o.strategy = s;
      o.reserve_bytes = 512 * kMiB;
      o.time_limit_seconds = 0.3;
      auto plan = MakePlan(models, gpus, o);
      ASSERT_TRUE(plan.ok());
      SCOPED_TRACE(StrategyName(s));
      ExpectValid(*plan, models, gpus, o.reserve_bytes);
    }
  }
}

TEST(PlanOptimal, FindsPerfectPackings) {
  std::mt19937 rng(99);
  int proven = 0;
  for (int trial = 0; trial < 20; ++trial) {
    // 12 GPUs, each split exactly into 3..6 parts after its context.
    const uint64_t cap = 80 * kGiB, ctx = 686 * kMiB;
    std::vector<ModelRequest> models;
    for (int g = 0; g < 12; ++g) {
      uint64_t left = cap - ctx;
      const int parts = 3 + static_cast<int>(rng() % 4);
      for (int p = 0; p < parts; ++p) {
        const uint64_t bytes = p + 1 == parts
                                   ? left
                                   : std::uniform_int_distribution<uint64_t>(
                                         left / (parts - p) / 2, left / (parts - p))(rng);
        left -= bytes;
        models.push_back(Model("g" + std::to_string(g) + "p" + std::to_string(p), bytes));
      }
    }
    std::shuffle(models.begin(), models.end(), rng);
    PlanOptions o;
    o.strategy = Strategy::kOptimal;
    o.time_limit_seconds = 2;
    const auto gpus = Gpus(std::vector<uint64_t>(16, cap), ctx);
    auto plan = MakePlan(models, gpus, o);
    ASSERT_TRUE(plan.ok());
    ExpectValid(*plan, models, gpus);
    EXPECT_EQ(plan->lower_bound_gpus, 12);
    if (plan->proven_optimal) {
      EXPECT_EQ(plan->gpus_used, 12);
      ++proven;
    }
  }
  EXPECT_GE(proven, 19);
}

TEST(PlanContexts, SharedModelsShareOneContextProcessModelsPayTheirOwn) {
  const auto gpus = Gpus({10 * kGiB}, kGiB);
  std::vector<ModelRequest> models = {Model("a", kGiB), Model("b", kGiB),
                                      Model("c", kGiB, Isolation::kProcess),
                                      Model("d", kGiB, Isolation::kProcess)};
  auto plan = MakePlan(models, gpus, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->gpus[0].workers.size(), 3u);
  EXPECT_EQ(plan->gpus[0].workers[0].isolation, Isolation::kShared);
  EXPECT_EQ(plan->gpus[0].workers[0].models, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(plan->gpus[0].planned_bytes, 7 * kGiB);  // 3 contexts + 4 models
  EXPECT_EQ(plan->contexts, 3);
}

TEST(PlanContexts, ContextAndReserveOverridesAreCounted) {
  const auto gpus = Gpus({10 * kGiB, 10 * kGiB}, kGiB);
  PlanOptions o;
  o.context_bytes = 2 * kGiB;
  o.reserve_bytes = kGiB;
  // 2 + 1 + 7 = 10 fits exactly; a second 7 GiB model needs the other GPU.
  auto plan = MakePlan({Model("a", 7 * kGiB), Model("b", 7 * kGiB)}, gpus, o);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->gpus_used, 2);
  EXPECT_EQ(plan->gpus[0].planned_bytes, 10 * kGiB);
  auto too_big = MakePlan({Model("a", 7 * kGiB + 1)}, gpus, o);
  ASSERT_TRUE(too_big.ok());
  ASSERT_EQ(too_big->unplaced.size(), 1u);
  EXPECT_NE(too_big->unplaced[0].reason.find("largest GPU"), std::string::npos);
}

TEST(PlanContexts, AZeroContextIsCountedAsZero) {
  // Contexts counted elsewhere (in the models' memory_bytes): two 5 GiB models fill a
  // 10 GiB GPU exactly, which the catalog's 1 GiB context would not allow.
  const auto gpus = Gpus({10 * kGiB}, kGiB);
  const std::vector<ModelRequest> models = {Model("a", 5 * kGiB), Model("b", 5 * kGiB)};
  PlanOptions o;
  o.context_bytes = 0;
  for (Strategy s : {Strategy::kFillFirst, Strategy::kMemoryOptimized, Strategy::kOptimal}) {
    o.strategy = s;
    auto plan = MakePlan(models, gpus, o);
    ASSERT_TRUE(plan.ok()) << StrategyName(s);
    EXPECT_TRUE(plan->unplaced.empty()) << StrategyName(s);
    EXPECT_EQ(plan->gpus[0].planned_bytes, 10 * kGiB) << StrategyName(s);
    for (const auto& w : plan->gpus[0].workers) EXPECT_EQ(w.context_bytes, 0u);
  }
  auto catalog = MakePlan(models, gpus, {});
  ASSERT_TRUE(catalog.ok());
  EXPECT_EQ(catalog->unplaced.size(), 1u);
}

TEST(PlanStrategies, FillFirstFillsInOrderAndBalanceSpreads) {
  const auto gpus = Gpus({16 * kGiB, 16 * kGiB, 16 * kGiB}, kGiB);
  std::vector<ModelRequest> models;
  for (int i = 0; i < 6; ++i) models.push_back(Model("m" + std::to_string(i), 2 * kGiB));
  PlanOptions o;
  o.strategy = Strategy::kFillFirst;
  auto ff = MakePlan(models, gpus, o);
  ASSERT_TRUE(ff.ok());
  EXPECT_EQ(ff->gpus_used, 1);
  o.strategy = Strategy::kBalanceLoad;
  auto bl = MakePlan(models, gpus, o);
  ASSERT_TRUE(bl.ok());
  EXPECT_EQ(bl->gpus_used, 3);
  for (const auto& g : bl->gpus) EXPECT_EQ(g.workers[0].models.size(), 2u);
}

TEST(PlanStrategies, LatencySensitiveModelsAvoidContentionAndHeavyModels) {
  const auto gpus = Gpus({40 * kGiB, 40 * kGiB, 40 * kGiB}, kGiB);
  std::vector<ModelRequest> models = {Model("heavy", 20 * kGiB), Model("fast1", 2 * kGiB),
                                      Model("fast2", 2 * kGiB), Model("small", kGiB)};
  models[0].expected_load = 10;
  models[1].latency_sensitive = models[2].latency_sensitive = true;
  PlanOptions o;
  o.strategy = Strategy::kLatencySensitive;
  auto plan = MakePlan(models, gpus, o);
  ASSERT_TRUE(plan.ok());
  std::map<std::string, int> where;
  for (const auto& g : plan->gpus) {
    for (const auto& w : g.workers) {
      for (const auto& m : w.models) where[m] = g.index;
    }
  }
  EXPECT_NE(where["fast1"], where["fast2"]);
  EXPECT_NE(where["heavy"], where["fast1"]);
  EXPECT_NE(where["heavy"], where["fast2"]);
}

TEST(PlanStrategies, ReplicasLandOnDistinctGpusOrAreUnplaced) {
  const auto gpus = Gpus({16 * kGiB, 16 * kGiB}, kGiB);
  for (Strategy s : kEvery) {
    PlanOptions o;
    o.strategy = s;
    auto plan = MakePlan({Model("r", kGiB, Isolation::kShared, 3)}, gpus, o);
    ASSERT_TRUE(plan.ok());
    ExpectValid(*plan, {Model("r", kGiB, Isolation::kShared, 3)}, gpus);
    ASSERT_EQ(plan->unplaced.size(), 1u) << StrategyName(s);
    EXPECT_NE(plan->unplaced[0].reason.find("distinct GPUs"), std::string::npos);
  }
}

TEST(PlanInput, BadInputIsRejectedNamingTheCulprit) {
  const auto gpus = Gpus({16 * kGiB}, kGiB);
  auto check = [&](std::vector<ModelRequest> models, const std::string& needle) {
    auto plan = MakePlan(models, gpus, {});
    ASSERT_FALSE(plan.ok()) << needle;
    EXPECT_NE(plan.status().message().find(needle), std::string::npos) << plan.status().message();
  };
  check({}, "empty");
  check({Model("a", kGiB), Model("a", kGiB)}, "duplicate model name 'a'");
  check({Model("z", 0)}, "'z'");
  check({Model("huge", uint64_t{1} << 62)}, "'huge'");
  check({Model("rep", kGiB, Isolation::kShared, 0)}, "'rep'");
  EXPECT_FALSE(MakePlan({Model("a", kGiB)}, {}, {}).ok());
  EXPECT_FALSE(ParseStrategy("best").ok());
  EXPECT_EQ(*ParseStrategy("optimal"), Strategy::kOptimal);
}

TEST(PlanOptimal, RespectsTheTimeLimit) {
  std::mt19937 rng(5);
  std::vector<ModelRequest> models;
  for (int i = 0; i < 3000; ++i) {
    models.push_back(Model("m" + std::to_string(i),
                           std::uniform_int_distribution<uint64_t>(1, 9000)(rng) * kMiB));
  }
  PlanOptions o;
  o.strategy = Strategy::kOptimal;
  o.time_limit_seconds = 0.2;
  const auto start = std::chrono::steady_clock::now();
  auto plan = MakePlan(models, Gpus(std::vector<uint64_t>(200, 80 * kGiB), 686 * kMiB), o);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(plan.ok());
  EXPECT_LT(seconds, 3.0);
  EXPECT_TRUE(plan->unplaced.empty());
}

TEST(PlanPacking, CostPlaceRemoveCountTheLargestSharedTransientOnce) {
  using plan_internal::Packing;
  // One 20 GiB GPU with a 1 GiB context. a: 4 GiB (3 transient), b: 3 GiB (1 transient),
  // c: 5 GiB (4 transient), p: process, 2 GiB (2 transient, paid in full).
  const std::vector<ModelRequest> models = {
      Transient("a", 4 * kGiB, 3 * kGiB), Transient("b", 3 * kGiB, kGiB),
      Transient("c", 5 * kGiB, 4 * kGiB), Transient("p", 2 * kGiB, 2 * kGiB, Isolation::kProcess)};
  Packing p(plan_internal::ExpandItems(models, false),
            plan_internal::MakeBins(Gpus({20 * kGiB}, kGiB), std::nullopt, 0));
  const auto& bin = p.bins()[0];
  EXPECT_EQ(p.Cost(0, 0), 5 * kGiB);  // context + 1 resident + 3 transient
  p.Place(0, 0);
  EXPECT_EQ(bin.used, 5 * kGiB);
  EXPECT_EQ(bin.shared_transient, 3 * kGiB);
  EXPECT_EQ(p.Cost(1, 0), 2 * kGiB);  // resident only: its transient hides under a's
  p.Place(1, 0);
  EXPECT_EQ(bin.used, 7 * kGiB);
  EXPECT_EQ(p.Cost(2, 0), 2 * kGiB);  // 1 resident + (4 - 3) more transient
  p.Place(2, 0);
  EXPECT_EQ(bin.used, 9 * kGiB);
  EXPECT_EQ(bin.shared_transient, 4 * kGiB);
  EXPECT_EQ(p.Cost(3, 0), 3 * kGiB);  // process: footprint + its own context
  p.Place(3, 0);
  EXPECT_EQ(bin.used, 12 * kGiB);
  EXPECT_EQ(bin.workers, 2);
  // Removing c brings the shared transient back to a's 3 GiB.
  p.Remove(2);
  EXPECT_EQ(bin.used, 10 * kGiB);
  EXPECT_EQ(bin.shared_transient, 3 * kGiB);
  p.Remove(0);  // b's 1 GiB is now the largest
  EXPECT_EQ(bin.used, 1 * kGiB + 2 * kGiB + 3 * kGiB + 0 * kGiB + 1 * kGiB);
  EXPECT_EQ(bin.shared_transient, kGiB);
  p.Remove(1);  // the shared worker and its context go
  EXPECT_EQ(bin.used, 3 * kGiB);
  EXPECT_FALSE(bin.has_shared);
  EXPECT_EQ(bin.shared_transient, 0u);
  EXPECT_EQ(bin.workers, 1);
  // Lower-bound sizes: resident for shared, footprint + context for process.
  EXPECT_EQ(p.BaseSize(0, kGiB), kGiB);
  EXPECT_EQ(p.BaseSize(3, kGiB), 3 * kGiB);
  EXPECT_EQ(p.AloneSize(0, kGiB), 4 * kGiB);
  // Every instance alone would need 10 GiB + 2 contexts; the bound counts resident bytes,
  // contexts and the largest transient once: 1 + 2 + 1 + 3 (process) + 1 (context) + 4.
  EXPECT_EQ(plan_internal::LowerBoundGpus(p, {0, 1, 2, 3}), 1);
}

TEST(PlanContexts, PlannedBytesAreTheWorkersPeaks) {
  const auto gpus = Gpus({10 * kGiB}, kGiB);
  const std::vector<ModelRequest> models = {Transient("a", 3 * kGiB, 2 * kGiB),
                                            Transient("b", 3 * kGiB, kGiB),
                                            Transient("p", 2 * kGiB, kGiB, Isolation::kProcess)};
  auto plan = MakePlan(models, gpus, {});
  ASSERT_TRUE(plan.ok());
  ExpectValid(*plan, models, gpus);
  const auto& g = plan->gpus[0];
  ASSERT_EQ(g.workers.size(), 2u);
  EXPECT_EQ(g.workers[0].transient_peak_bytes, 2 * kGiB);
  EXPECT_EQ(g.workers[0].transient_bytes, (std::vector<uint64_t>{2 * kGiB, kGiB}));
  // Shared: context 1 + resident 1 + 2 + transient peak 2; process: context 1 + 2.
  EXPECT_EQ(g.planned_bytes, 9 * kGiB);
}

TEST(PlanContexts, SharedTransientsFitModelsThatWholeFootprintsWouldNot) {
  // 8 models of 2 GiB, 1.5 GiB of it transient, on 9 GiB with a 1 GiB context:
  // 1 + 8 x 0.5 + 1.5 = 6.5 GiB; whole footprints (17 GiB) or process workers would not.
  const auto gpus = Gpus({9 * kGiB}, kGiB);
  std::vector<ModelRequest> models;
  for (int i = 0; i < 8; ++i) {
    models.push_back(Transient("m" + std::to_string(i), 2 * kGiB, 3 * kGiB / 2));
  }
  for (Strategy s : kEvery) {
    PlanOptions o;
    o.strategy = s;
    auto plan = MakePlan(models, gpus, o);
    ASSERT_TRUE(plan.ok());
    SCOPED_TRACE(StrategyName(s));
    ExpectValid(*plan, models, gpus);
    if (s == Strategy::kConventional) {
      EXPECT_EQ(plan->placed_instances, 3);  // 3 x (2 + 1) = 9: transients do not help
    } else {
      EXPECT_EQ(plan->placed_instances, 8);
      EXPECT_EQ(plan->gpus[0].planned_bytes, 13 * kGiB / 2);
      EXPECT_EQ(plan->lower_bound_gpus, 1);
      EXPECT_TRUE(plan->proven_optimal);
    }
  }
}

TEST(PlanContexts, UnplacedReasonNamesTheTransientPart) {
  const auto gpus = Gpus({6 * kGiB}, kGiB);
  auto plan =
      MakePlan({Transient("big", 4 * kGiB, kGiB), Transient("next", 2 * kGiB, kGiB / 2)}, gpus, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->unplaced.size(), 1u);
  EXPECT_EQ(plan->unplaced[0].name, "next");
  // 1.5 GiB resident (its transient hides under big's): 1 GiB is left.
  EXPECT_EQ(
      plan->unplaced[0].reason,
      "needs 2.00 GiB (512.00 MiB of it transient, reused within a shared worker); at best it "
      "would add 1.50 GiB to a GPU without a replica of it that has 1.00 GiB left");
}

TEST(PlanInput, TransientOverTheFootprintIsRejected) {
  auto plan = MakePlan({Transient("t", kGiB, kGiB + 1)}, Gpus({16 * kGiB}, kGiB), {});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("model 't': transient"), std::string::npos)
      << plan.status().message();
}

}  // namespace
}  // namespace modelgrid
