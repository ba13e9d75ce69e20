// The host-memory tier (serve --host-cache) with in-process fake workers
// (tests/support/fake_workers.h): more models than the device holds, swap-ins on request,
// least-recently-used eviction, pinned models, requests during a swap-in, busy devices,
// a worker killed mid-swap and the unload of a parked model. No processes, no LibTorch.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "serve/model_grid.h"
#include "support/fake_grid.h"

namespace modelgrid {
namespace {

using nlohmann::json;

constexpr uint64_t kMiB = uint64_t{1} << 20;

class ServeHostTier : public testing::FakeGridTest {
 protected:
  ServeHostTier() : FakeGridTest("mg-host-tier-") {}

  // A model of 100 MiB taking and giving FP32 [4].
  void AddModel(const std::string& name, const std::string& extra = "") {
    WriteModel(name, 100 * kMiB, extra);
  }
  void AddModels(int n) {
    for (int i = 0; i < n; ++i) AddModel(Name(i));
  }
  static std::string Name(int i) { return std::string(1, static_cast<char>('a' + i)); }

  // Every model loaded, on one device of 500 MiB: a 154 MiB worker context and three of
  // the 100 MiB models fit at once.
  void Start(uint64_t host_cache = uint64_t{1} << 30, uint32_t wait_ms = 10'000,
             const std::string& strategy = "memory-optimized") {
    ServeOptions options;
    options.strategy = strategy;
    options.gpus = "cpu:1x500MiB";
    options.model_control = ModelControlMode::kExplicit;
    options.load_models = {"*"};
    options.host_cache_bytes = host_cache;
    options.host_cache_wait_ms = wait_ms;
    StartGrid(std::move(options));
  }

  // Runs one request on `m` and checks that its answer is the echo of its input.
  void Served(const std::string& m) {
    auto out = Infer(m, m[0]).get();
    ASSERT_TRUE(out.ok()) << m << ": " << out.status().ToString();
    ASSERT_EQ(out->outputs.size(), 1u);
    EXPECT_EQ(out->outputs[0].data, std::string(16, m[0])) << m;
  }

  json Status() { return grid_->ServerStatus().value(); }
  std::map<std::string, std::string> Tiers() {
    std::map<std::string, std::string> out;
    const json s = Status();  // kept: the loop reads into it
    for (const auto& m : s["models"]) {
      if (m.contains("tier")) out[m["name"].get<std::string>()] = m["tier"].get<std::string>();
    }
    return out;
  }
  // A model parked now ("" when none).
  std::string AParkedModel() {
    for (const auto& [name, t] : Tiers()) {
      if (t == "parked") return name;
    }
    return "";
  }
  int Count(const std::string& tier) {
    int n = 0;
    for (const auto& [name, t] : Tiers()) n += t == tier;
    return n;
  }
  // The tier's warm-up ends when no model is cold: each one was loaded, and what it evicted
  // was parked.
  bool Warmed() {
    return fleet_->WaitUntil([&] {
      const auto tiers = Tiers();
      for (const auto& [name, t] : tiers) {
        if (t != "resident" && t != "parked") return false;
      }
      return true;
    });
  }
  // What the plan puts on the device never exceeds it, and the parked bytes are those of
  // the parked models (100 MiB each) within the cache.
  void ExpectConsistent(uint64_t host_cache = uint64_t{1} << 30) {
    const json s = Status();
    const json& d = s["devices"][0];
    EXPECT_LE(d["planned_bytes"].get<uint64_t>(), d["capacity_bytes"].get<uint64_t>());
    const uint64_t parked = s["host_cache"]["parked_bytes"];
    EXPECT_EQ(parked, static_cast<uint64_t>(Count("parked")) * 100 * kMiB);
    EXPECT_LE(parked, host_cache);
  }
  uint64_t Swaps(const std::string& field) {
    uint64_t n = 0;
    const json s = Status();
    for (const auto& m : s["models"]) n += m.value(field, uint64_t{0});
    return n;
  }
};

TEST_F(ServeHostTier, ServesTwiceAsManyModelsAsTheDeviceHolds) {
  AddModels(6);
  Start();
  ASSERT_TRUE(Warmed());
  EXPECT_EQ(Count("resident"), 3);
  EXPECT_EQ(Count("parked"), 3);
  ExpectConsistent();
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 6; ++i) {
      Served(Name(i));
      ExpectConsistent();
    }
  }
  EXPECT_GE(Swaps("swap_ins"), 6u);
  EXPECT_GE(Swaps("swap_outs"), 6u);
  auto index = grid_->RepositoryIndex(false).value();
  for (const auto& e : index) {
    EXPECT_EQ(e["state"], "READY") << e.dump();
    if (e["tier"] == "parked") {
      EXPECT_EQ(e["reason"], "parked in host memory: swaps in on request");
    }
  }
  const std::string metrics = grid_->Metrics().value();
  EXPECT_NE(metrics.find("modelgrid_swap_ins_total{model=\"a\""), std::string::npos);
  EXPECT_NE(metrics.find("modelgrid_swap_in_duration_seconds_bucket{model=\"a\",version=\"1\","
                         "le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("modelgrid_tier_bytes{tier=\"parked\"} 314572800"), std::string::npos)
      << metrics;
}

TEST_F(ServeHostTier, EvictsTheLeastRecentlyUsedIdleModel) {
  AddModels(5);
  Start();
  ASSERT_TRUE(Warmed());
  for (const char* m : {"a", "b", "c"}) Served(m);  // resident now, used in this order
  auto tiers = Tiers();
  EXPECT_EQ(tiers["a"], "resident");
  EXPECT_EQ(tiers["b"], "resident");
  EXPECT_EQ(tiers["c"], "resident");
  Served("d");  // parks a, the least recently used
  tiers = Tiers();
  EXPECT_EQ(tiers["a"], "parked");
  EXPECT_EQ(tiers["d"], "resident");
  Served("b");  // already resident: no swap, but now the most recently used
  Served("e");  // parks c (b was used after it)
  tiers = Tiers();
  EXPECT_EQ(tiers["c"], "parked");
  EXPECT_EQ(tiers["b"], "resident");
  EXPECT_EQ(tiers["d"], "resident");
  EXPECT_EQ(tiers["e"], "resident");
  ExpectConsistent();
}

TEST_F(ServeHostTier, LatencySensitiveModelsStayResident) {
  AddModel("pinned", R"(parameters { key: "latency_sensitive" value: { string_value: "true" } })");
  AddModels(4);
  // The strategy that places latency-sensitive models first (the planner says so).
  Start(uint64_t{1} << 30, 10'000, "latency-sensitive");
  ASSERT_TRUE(Warmed());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 4; ++i) {
      Served(Name(i));
      EXPECT_EQ(Tiers()["pinned"], "resident");
    }
  }
  const json s = Status();
  for (const auto& m : s["models"]) {
    if (m["name"] == "pinned") {
      EXPECT_EQ(m["parkable"], false) << m.dump();
      EXPECT_EQ(m["swap_outs"], 0);
    }
  }
  ExpectConsistent();
}

TEST_F(ServeHostTier, RequestsArrivingDuringASwapInAreServedByIt) {
  AddModels(4);
  Start();
  ASSERT_TRUE(Warmed());
  const std::string parked = AParkedModel();
  ASSERT_FALSE(parked.empty());
  fleet_->Hold(ipc::Op::kUnpark);
  auto first = Infer(parked, parked[0]);
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kUnpark) == 1; }));
  EXPECT_EQ(Tiers()[parked], "unparking");
  auto second = Infer(parked, parked[0]);
  fleet_->Release(ipc::Op::kUnpark);
  for (auto* answer : {&first, &second}) {
    auto out = answer->get();
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->outputs.at(0).data, std::string(16, parked[0]));
  }
  uint64_t swaps = 0;
  const json s = Status();
  for (const auto& m : s["models"]) {
    if (m["name"] == parked) swaps = m["swap_ins"];
  }
  EXPECT_EQ(swaps, 1u);  // one swap-in served both
}

TEST_F(ServeHostTier, ARequestWaitsWhileEveryResidentModelIsBusyThenFails) {
  AddModels(4);
  Start(uint64_t{1} << 30, /*wait_ms=*/300);
  ASSERT_TRUE(Warmed());
  std::vector<std::string> resident, parked;
  for (const auto& [name, t] : Tiers()) (t == "resident" ? resident : parked).push_back(name);
  ASSERT_EQ(resident.size(), 3u);
  fleet_->Hold(ipc::Op::kInfer);
  std::vector<std::future<Result<server::InferResponse>>> busy;
  for (const auto& m : resident) busy.push_back(Infer(m));
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kInfer) == 3; }));
  auto refused = Infer(parked.front()).get();
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("busy"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(Tiers()[parked.front()], "parked");  // nothing was swapped out under a request
  fleet_->Release(ipc::Op::kInfer);
  for (auto& b : busy) EXPECT_TRUE(b.get().ok());
  Served(parked.front());  // and once they are idle it swaps in
  ExpectConsistent();
}

TEST_F(ServeHostTier, AWorkerKilledMidSwapComesBackAndServesEveryModel) {
  AddModels(5);
  Start();
  ASSERT_TRUE(Warmed());
  const std::string parked = AParkedModel();
  fleet_->Hold(ipc::Op::kUnpark);
  auto lost = Infer(parked);
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kUnpark) == 1; }));
  const std::string process = fleet_->Running().front();
  fleet_->Kill(process);
  auto out = lost.get();
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << out.status().ToString();
  fleet_->Release(ipc::Op::kUnpark);
  // The restarted worker reloads the resident models; the parked ones (their host copies
  // died with the worker) are cold and the tier warms them again.
  ASSERT_TRUE(fleet_->WaitUntil([&] {
    const json index = grid_->RepositoryIndex(false).value();
    for (const auto& e : index) {
      if (e["state"] != "READY") return false;
    }
    return true;
  }));
  ASSERT_TRUE(Warmed());
  for (int i = 0; i < 5; ++i) Served(Name(i));
  EXPECT_EQ(Count("resident"), 3);
  ExpectConsistent();
}

TEST_F(ServeHostTier, AParkedModelUnloadsAndItsBytesLeaveTheCache) {
  AddModels(4);
  Start();
  ASSERT_TRUE(Warmed());
  const std::string parked = AParkedModel();
  ASSERT_EQ(Status()["host_cache"]["parked_bytes"], 100 * kMiB);
  std::promise<Result<json>> unloaded;
  grid_->UnloadModel(parked, json::object(), [&](Result<json> r) { unloaded.set_value(r); });
  auto r = unloaded.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Status()["host_cache"]["parked_bytes"], 0u);
  EXPECT_EQ(Infer(parked).get().status().code(), StatusCode::kNotFound);
  for (const auto& [name, t] : Tiers()) Served(name);
  ExpectConsistent();
}

TEST_F(ServeHostTier, ALoadThatFitsNowhereParksIdleModelsToMakeRoom) {
  AddModels(3);
  Start();  // a, b and c fill the device
  EXPECT_EQ(Count("resident"), 3);
  AddModel("late");
  std::promise<Result<json>> loaded;
  grid_->LoadModel("late", json::object(), [&](Result<json> r) { loaded.set_value(r); });
  auto r = loaded.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Tiers()["late"], "resident");
  EXPECT_EQ(Count("parked"), 1);
  ExpectConsistent();
  for (const char* m : {"late", "a", "b", "c"}) Served(m);
  // A model larger than the device is refused as without the tier, saying why.
  AddModel("huge", R"(parameters { key: "memory_bytes" value: { string_value: "600MiB" } })");
  std::promise<Result<json>> refused;
  grid_->LoadModel("huge", json::object(), [&](Result<json> r) { refused.set_value(r); });
  auto no = refused.get_future().get();
  ASSERT_FALSE(no.ok());
  EXPECT_NE(no.status().message().find("no device has room"), std::string::npos)
      << no.status().message();
  EXPECT_EQ(Count("parked"), 1);  // and it parked nothing in vain
  ExpectConsistent();
}

TEST_F(ServeHostTier, MovesAreRefusedNamingTheOption) {
  AddModels(2);
  Start();
  std::promise<Result<json>> moved;
  grid_->MoveModel("a", json{{"isolation", "process"}},
                   [&](Result<json> r) { moved.set_value(r); });
  auto r = moved.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--host-cache"), std::string::npos) << r.status().message();
}

TEST_F(ServeHostTier, AHostCacheTooSmallForTheRestServesWhatItHoldsAndSaysWhy) {
  AddModels(5);
  Start(/*host_cache=*/150 * kMiB, /*wait_ms=*/300);
  // The planner parks what the cache holds: one model; the rest did not fit anywhere.
  const json s = Status();
  int unavailable = 0;
  for (const auto& m : s["models"]) unavailable += m["state"] == "UNAVAILABLE";
  EXPECT_EQ(unavailable, 1) << s.dump(1);
  ASSERT_TRUE(Warmed());
  ExpectConsistent(150 * kMiB);
}

}  // namespace
}  // namespace modelgrid
