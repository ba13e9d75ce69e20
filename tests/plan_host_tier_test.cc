// The host-memory tier of plans (plan/host_tier.h): what does not fit is parked while the
// host cache holds it and some GPU can take it beside what cannot be evicted; what is never
// parked keeps its reason; swap-in time is the parked bytes over the GPU's host link.
#include "plan/host_tier.h"

#include <gtest/gtest.h>

#include "gpu/host_link.h"
#include "plan/planner.h"

namespace modelgrid {
namespace {

constexpr uint64_t kGB = 1'000'000'000;

ModelRequest Model(const std::string& name, uint64_t bytes) {
  ModelRequest m;
  m.name = name;
  m.footprint_bytes = bytes;
  return m;
}

std::vector<GpuDevice> Gpus(const std::string& spec) {
  auto gpus = ParseGpuSpec(spec);
  EXPECT_TRUE(gpus.ok()) << gpus.status().ToString();
  return gpus.ok() ? *gpus : std::vector<GpuDevice>{};
}

Plan MustPlan(const std::vector<ModelRequest>& models, const std::vector<GpuDevice>& gpus,
              PlanOptions options) {
  auto plan = MakePlan(models, gpus, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

const UnplacedModel* Unplaced(const Plan& plan, const std::string& name) {
  for (const auto& u : plan.unplaced) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

TEST(HostTier, WhatDoesNotFitIsParkedWhileTheCacheHoldsIt) {
  std::vector<ModelRequest> models = {Model("a", 30 * kGB), Model("b", 30 * kGB),
                                      Model("c", 30 * kGB), Model("d", 30 * kGB)};
  models[3].transient_bytes = 10 * kGB;  // parked: only its 20 GB resident part
  PlanOptions options;
  options.host_cache_bytes = 60 * kGB;
  const Plan plan = MustPlan(models, Gpus("1xH100-80GB"), options);
  EXPECT_EQ(plan.placed_instances, 2);
  ASSERT_EQ(plan.parked.size() + plan.unplaced.size(), 2u);
  uint64_t used = 0;
  for (const ParkedModel& p : plan.parked) {
    EXPECT_EQ(p.gpu, 0);
    EXPECT_EQ(p.link, "PCIe Gen5 x16");
    EXPECT_DOUBLE_EQ(p.swap_in_seconds, static_cast<double>(p.parked_bytes) / (64.0 * kGB));
    used += p.parked_bytes;
  }
  EXPECT_EQ(plan.host_cache_used_bytes, used);
  EXPECT_LE(plan.host_cache_used_bytes, plan.host_cache_bytes);
  // Without a cache nothing is parked, and the plan is otherwise the same.
  const Plan none = MustPlan(models, Gpus("1xH100-80GB"), PlanOptions{});
  EXPECT_TRUE(none.parked.empty());
  EXPECT_EQ(none.placed_instances, plan.placed_instances);
  EXPECT_EQ(none.unplaced.size(), 2u);
}

TEST(HostTier, AFullCacheLeavesTheRestUnplacedSayingWhy) {
  std::vector<ModelRequest> models;
  for (int i = 0; i < 5; ++i) models.push_back(Model("m" + std::to_string(i), 30 * kGB));
  PlanOptions options;
  options.host_cache_bytes = 50 * kGB;  // one 30 GB model, not two
  const Plan plan = MustPlan(models, Gpus("1xH100-80GB"), options);
  ASSERT_EQ(plan.parked.size(), 1u);
  ASSERT_EQ(plan.unplaced.size(), 2u);
  for (const auto& u : plan.unplaced) {
    EXPECT_NE(u.reason.find("host cache"), std::string::npos) << u.reason;
  }
}

TEST(HostTier, LatencySensitiveIsolatedTooLargeAndReplicasAreNeverParked) {
  std::vector<ModelRequest> models = {Model("fill", 70 * kGB), Model("ls", 30 * kGB),
                                      Model("iso", 30 * kGB), Model("huge", 90 * kGB),
                                      Model("rep", 5 * kGB)};
  models[1].latency_sensitive = true;
  models[2].isolation = Isolation::kProcess;
  models[4].replicas = 2;  // one GPU: its second replica has nowhere to go
  PlanOptions options;
  options.strategy = Strategy::kFillFirst;
  options.host_cache_bytes = 1000 * kGB;
  const Plan plan = MustPlan(models, Gpus("1xH100-80GB"), options);
  const std::pair<const char*, const char*> kept[] = {{"ls", "latency-sensitive"},
                                                      {"iso", "process-isolated"},
                                                      {"huge", "could never swap in"},
                                                      {"rep#2", "replicas"}};
  for (const auto& [name, why] : kept) {
    const UnplacedModel* u = Unplaced(plan, name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_NE(u->reason.find(why), std::string::npos) << name << ": " << u->reason;
  }
  for (const ParkedModel& p : plan.parked) EXPECT_NE(p.name, "ls");
}

TEST(HostTier, PinnedResidentsLeaveNoRoomToSwapIn) {
  // The latency-sensitive model takes 70 GB resident for good: a 30 GB model could never
  // swap in beside it, so it is not parked.
  std::vector<ModelRequest> models = {Model("pinned", 70 * kGB), Model("other", 30 * kGB)};
  models[0].latency_sensitive = true;
  PlanOptions options;
  options.host_cache_bytes = 100 * kGB;
  const Plan plan = MustPlan(models, Gpus("1xH100-80GB"), options);
  EXPECT_TRUE(plan.parked.empty());
  const UnplacedModel* u = Unplaced(plan, "other");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->reason.find("cannot be evicted"), std::string::npos) << u->reason;
}

TEST(HostTier, ParkedModelsSpreadOverTheGpusLinks) {
  std::vector<ModelRequest> models;
  for (int i = 0; i < 8; ++i) models.push_back(Model("m" + std::to_string(i), 10 * kGB));
  PlanOptions options;
  options.host_cache_bytes = 1000 * kGB;
  const Plan plan = MustPlan(models, Gpus("2x24GiB"), options);
  ASSERT_EQ(plan.parked.size(), 4u);
  int on[2] = {0, 0};
  for (const ParkedModel& p : plan.parked) ++on[p.gpu];
  EXPECT_EQ(on[0], 2);
  EXPECT_EQ(on[1], 2);
}

TEST(HostLink, CatalogGpusHaveTheirPcieGeneration) {
  EXPECT_EQ(HostLinkOf(Gpus("1xH200")[0]).bytes_per_second, 64 * kGB);
  EXPECT_EQ(HostLinkOf(Gpus("1xA100-80GB")[0]).bytes_per_second, 32 * kGB);
  EXPECT_EQ(HostLinkOf(Gpus("1xT4")[0]).bytes_per_second, 16 * kGB);
  const HostLink sized = HostLinkOf(Gpus("1x80GiB")[0]);
  EXPECT_EQ(sized.bytes_per_second, 64 * kGB);
  EXPECT_NE(sized.name.find("assumed"), std::string::npos) << sized.name;
}

TEST(HostTier, AnAbsurdCacheIsRefused) {
  PlanOptions options;
  options.host_cache_bytes = uint64_t{1} << 50;
  auto plan = MakePlan({Model("a", kGB)}, Gpus("1xL4"), options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("host cache"), std::string::npos);
}

}  // namespace
}  // namespace modelgrid
