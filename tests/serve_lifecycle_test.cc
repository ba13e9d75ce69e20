// The serving core's lifecycle with in-process fake workers (tests/support/fake_workers.h):
// unloads waiting for the last request, workers killed during a load, an unload and a
// move, restarts, stale exit reports and shutdown. No processes, no LibTorch.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "serve/model_grid.h"
#include "support/fake_grid.h"

namespace modelgrid {
namespace {

using nlohmann::json;

class ServeLifecycle : public testing::FakeGridTest {
 protected:
  ServeLifecycle() : FakeGridTest("mg-lifecycle-") {}

  // A model of 1 MiB taking and giving FP32 [4].
  void AddModel(const std::string& name) { WriteModel(name, uint64_t{1} << 20); }

  // Starts in explicit mode with `load` loaded, on two virtual devices.
  void Start(std::vector<std::string> load) {
    ServeOptions options;
    options.gpus = "cpu:2x1200MiB";
    options.model_control = ModelControlMode::kExplicit;
    options.load_models = std::move(load);
    StartGrid(std::move(options));
  }

  using Answer = std::future<Result<json>>;
  Answer Load(const std::string& m) {
    return Async([&](auto done) { grid_->LoadModel(m, json::object(), done); });
  }
  Answer Unload(const std::string& m) {
    return Async([&](auto done) { grid_->UnloadModel(m, json::object(), done); });
  }
  Answer Move(const std::string& m, const json& body) {
    return Async([&](auto done) { grid_->MoveModel(m, body, done); });
  }
  template <typename F>
  Answer Async(F start) {
    auto promise = std::make_shared<std::promise<Result<json>>>();
    Answer answer = promise->get_future();
    start([promise](Result<json> r) { promise->set_value(std::move(r)); });
    return answer;
  }

  StatusCode InferCode(const std::string& m) { return Infer(m).get().status().code(); }

  std::string State(const std::string& m) {
    auto index = grid_->RepositoryIndex(false);
    if (!index.ok()) return "error";
    for (const auto& e : *index) {
      if (e["name"] == m) return e.value("state", "");
    }
    return "absent";
  }
  bool WaitState(const std::string& m, const std::string& state) {
    return fleet_->WaitUntil([&] { return State(m) == state; });
  }
  json Status() { return grid_->ServerStatus().value(); }
  // The launcher key of the one running worker whose name starts with `prefix`.
  std::string Process(const std::string& prefix) {
    std::string found;
    for (const auto& p : fleet_->Running()) {
      if (p.rfind(prefix + "#", 0) == 0) found = p;
    }
    return found;
  }
};

TEST_F(ServeLifecycle, LoadsServesAndUnloads) {
  AddModel("a");
  Start({"a"});
  EXPECT_EQ(State("a"), "READY");
  auto out = Infer("a").get();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->outputs.size(), 1u);
  EXPECT_EQ(out->outputs[0].data, std::string(16, '\1'));
  auto unloaded = Unload("a").get();
  ASSERT_TRUE(unloaded.ok()) << unloaded.status().ToString();
  EXPECT_EQ((*unloaded)["worker_stopped"], true);
  EXPECT_EQ(InferCode("a"), StatusCode::kNotFound);
  EXPECT_TRUE(fleet_->Running().empty());
}

TEST_F(ServeLifecycle, UnloadCompletesOnTheLastRelease) {
  AddModel("a");
  Start({"a"});
  fleet_->Hold(ipc::Op::kInfer);
  std::vector<std::future<Result<server::InferResponse>>> in_flight;
  for (int i = 0; i < 3; ++i) in_flight.push_back(Infer("a"));
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kInfer) == 3; }));
  Answer unload = Unload("a");
  ASSERT_TRUE(WaitState("a", "UNLOADING"));
  // Held requests keep the model: the unload cannot have finished, and new requests are
  // refused while it waits.
  EXPECT_EQ(unload.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  EXPECT_EQ(InferCode("a"), StatusCode::kUnavailable);
  fleet_->Release(ipc::Op::kInfer);
  for (auto& r : in_flight) EXPECT_TRUE(r.get().ok());
  auto result = unload.get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ((*result)["drained"], true);
  EXPECT_EQ(InferCode("a"), StatusCode::kNotFound);
}

TEST_F(ServeLifecycle, WorkerKilledDuringALoad) {
  AddModel("a");
  Start({});
  fleet_->Hold(ipc::Op::kLoad);
  Answer load = Load("a");
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kLoad) == 1; }));
  ASSERT_EQ(fleet_->Running().size(), 1u);
  fleet_->Kill(fleet_->Running().front());
  auto failed = load.get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
  // Nothing of the failed load is left: no worker, no model.
  EXPECT_TRUE(Status()["workers"].empty()) << Status();
  EXPECT_EQ(InferCode("a"), StatusCode::kNotFound);
  fleet_->Release(ipc::Op::kLoad);
  auto loaded = Load("a").get();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(InferCode("a"), StatusCode::kOk);
}

TEST_F(ServeLifecycle, WorkerKilledDuringAnUnload) {
  AddModel("a");
  AddModel("b");
  Start({"a", "b"});
  json workers = Status()["workers"];
  ASSERT_EQ(workers.size(), 1u) << workers;  // both in one shared worker
  const std::string worker = workers[0]["name"];
  fleet_->Hold(ipc::Op::kUnload);
  Answer unload = Unload("a");
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kUnload) == 1; }));
  fleet_->Kill(Process(worker));
  auto result = unload.get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  // The restarted worker reloads what it still hosts, b only. (b may still read READY from
  // before the kill was noticed, and the restart may be counted before its reload: wait
  // until b answers again.)
  ASSERT_TRUE(fleet_->WaitUntil([&] {
    const json w = Status()["workers"];
    return w.size() == 1 && w[0]["restarts"] == 1 && State("b") == "READY" &&
           InferCode("b") == StatusCode::kOk;
  }));
  EXPECT_EQ(InferCode("a"), StatusCode::kNotFound);
  workers = Status()["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["models"], json::array({"b"}));
  EXPECT_EQ(workers[0]["restarts"], 1);
}

TEST_F(ServeLifecycle, TargetKilledDuringAMoveLeavesTheModelWhereItWas) {
  AddModel("a");
  Start({"a"});
  const std::string from = Status()["models"][0]["worker"];
  fleet_->Hold(ipc::Op::kLoad);
  Answer move = Move("a", {{"isolation", "process"}});
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kLoad) == 1; }));
  const std::string target = Process("cpu0-a").empty() ? Process("cpu1-a") : Process("cpu0-a");
  ASSERT_FALSE(target.empty());
  fleet_->Kill(target);
  auto result = move.get();
  EXPECT_FALSE(result.ok());
  fleet_->Release(ipc::Op::kLoad);
  EXPECT_EQ(State("a"), "READY");
  EXPECT_EQ(InferCode("a"), StatusCode::kOk);
  const json status = Status();
  EXPECT_EQ(status["models"][0]["worker"], from);
  ASSERT_EQ(status["workers"].size(), 1u) << status;
}

TEST_F(ServeLifecycle, SourceKilledDuringAMoveStillMoves) {
  AddModel("a");
  Start({"a"});
  const std::string from = Status()["models"][0]["worker"];
  fleet_->Hold(ipc::Op::kLoad);
  Answer move = Move("a", {{"isolation", "process"}});
  ASSERT_TRUE(fleet_->WaitUntil([&] { return fleet_->HeldCalls(ipc::Op::kLoad) == 1; }));
  fleet_->Kill(Process(from), /*may_restart=*/false);  // only the move can bring it back
  ASSERT_TRUE(WaitState("a", "UNAVAILABLE"));
  fleet_->Release(ipc::Op::kLoad);
  auto result = move.get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_NE((*result)["to"]["worker"], from);
  EXPECT_EQ(State("a"), "READY");
  EXPECT_EQ(InferCode("a"), StatusCode::kOk);
}

TEST_F(ServeLifecycle, RestartReloadsItsModels) {
  AddModel("a");
  Start({"a"});
  const std::string worker = Status()["models"][0]["worker"];
  fleet_->Hold(ipc::Op::kLoad);  // the reload waits: the model is seen unavailable
  fleet_->Kill(Process(worker));
  ASSERT_TRUE(WaitState("a", "UNAVAILABLE"));
  EXPECT_EQ(InferCode("a"), StatusCode::kUnavailable);
  fleet_->Release(ipc::Op::kLoad);
  ASSERT_TRUE(WaitState("a", "READY"));
  EXPECT_EQ(InferCode("a"), StatusCode::kOk);
  auto metrics = grid_->Metrics();
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("modelgrid_worker_restarts_total 1"), std::string::npos) << *metrics;
}

// A worker name comes back after an unload and a load; the exit report of the old process
// must not touch the new one (workers are known by a key that is never reused).
TEST_F(ServeLifecycle, AStaleExitDoesNotTouchTheWorkerThatReusedItsName) {
  AddModel("a");
  Start({"a"});
  const std::string worker = Status()["models"][0]["worker"];
  const std::string old_process = Process(worker);
  ASSERT_TRUE(Unload("a").get().ok());
  ASSERT_TRUE(Load("a").get().ok());
  EXPECT_EQ(Status()["models"][0]["worker"], worker);
  EXPECT_NE(Process(worker), old_process);
  fleet_->ReplayExit(old_process);
  fleet_->Drain();
  EXPECT_EQ(State("a"), "READY");
  EXPECT_EQ(InferCode("a"), StatusCode::kOk);
}

TEST_F(ServeLifecycle, NoRestartOnceShutdownBegan) {
  AddModel("a");
  Start({"a"});
  const int launches = fleet_->Launches();
  grid_->BeginShutdown();
  fleet_->Kill(Process(Status()["models"][0]["worker"]));
  ASSERT_TRUE(WaitState("a", "UNAVAILABLE"));
  fleet_->Drain();
  EXPECT_EQ(fleet_->Launches(), launches);
  EXPECT_TRUE(fleet_->Running().empty());
}

}  // namespace
}  // namespace modelgrid
