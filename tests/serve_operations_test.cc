// End-to-end operations: `modelgrid serve` with model control, admission, moves,
// re-planning, metrics, the API key, privileges and the server's death, driven over HTTP.
//
// Each test starts its own server on a repository made from the fixture models (copies of
// add_one with a fixed `memory_bytes`, so that admission has exact numbers). Timeouts are
// hang guards only; nothing asserts on latency.
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/prometheus.h"
#include "support/affinity.h"
#include "support/fixtures.h"
#include "support/http_client.h"
#include "support/run_command.h"
#include "support/serve_process.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HttpClient;
using testing::HttpResponse;

constexpr uint64_t kMiB = uint64_t{1} << 20;
const std::string kAddOneBody =
    R"({"inputs":[{"name":"INPUT__0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]})";

class ServeOperations : public ::testing::Test {
 protected:
  void SetUp() override {
    MG_REQUIRE_FIXTURE(fixture_repo, "repo");
    fixture_repo_ = fixture_repo;
    dir_ = fs::temp_directory_path() /
           ("mg_serve_ops_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "repo");
  }

  void TearDown() override {
    server_.Stop(SIGTERM);
    if (HasFailure()) {
      std::string log = server_.log();
      if (log.size() > 6000) log = "...\n" + log.substr(log.size() - 6000);
      std::cerr << "---- modelgrid serve stderr ----\n" << log;
    } else {
      fs::remove_all(dir_);
    }
  }

  // Copies fixture model `from` into the test repository as `name`; a non-zero
  // `memory_bytes` fixes the footprint the planner uses.
  void AddModel(const std::string& name, const std::string& from, uint64_t memory_bytes = 0) {
    const fs::path target = dir_ / "repo" / name;
    fs::copy(fs::path(fixture_repo_) / from, target, fs::copy_options::recursive);
    std::ifstream in(target / "config.pbtxt");
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    config =
        std::regex_replace(config, std::regex("name: \"" + from + "\"\n"),
                           "name: \"" + name + "\"\n", std::regex_constants::format_first_only);
    if (memory_bytes > 0) {
      config += "parameters { key: \"memory_bytes\" value: { string_value: \"" +
                std::to_string(memory_bytes) + "\" } }\n";
    }
    std::ofstream(target / "config.pbtxt") << config;
  }

  void Serve(std::vector<std::string> args) {
    args.insert(args.begin(), (dir_ / "repo").string());
    for (const char* a : {"--port", "0", "--heartbeat-timeout-ms", "3000"}) args.push_back(a);
    args.push_back("--footprints");
    args.push_back((dir_ / "footprints.json").string());
    const std::string error = server_.Start(MODELGRID_BINARY, args, (dir_ / "server.log").string());
    ASSERT_TRUE(error.empty()) << error;
  }

  HttpResponse Post(const std::string& path, const std::string& body = "",
                    const HttpClient::Headers& headers = {}) {
    HttpClient c(server_.port(), milliseconds(120'000));
    return c.Post(path, body, headers);
  }
  HttpResponse Get(const std::string& path, const HttpClient::Headers& headers = {}) {
    HttpClient c(server_.port(), milliseconds(30'000));
    return c.Get(path, headers);
  }
  json PostJson(const std::string& path, int expect_status, const std::string& body = "") {
    HttpResponse r = Post(path, body);
    EXPECT_EQ(r.status, expect_status) << path << ": " << r.error << r.body;
    return json::parse(r.body, nullptr, false);
  }
  json Status() {
    HttpResponse r = Get("/v2/modelgrid/status");
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  std::string DeviceOf(const std::string& model) {
    const json status = Status();
    for (const auto& m : status["models"]) {
      if (m["name"] == model) return m.value("device", "");
    }
    return "";
  }
  pid_t WorkerPidOf(const std::string& worker) {
    for (const auto& p : testing::WorkersOf(server_.pid())) {
      // cmdline has its NULs turned into spaces: the name is followed by one.
      if (p.cmdline.find("--name " + worker + " ") != std::string::npos) return p.pid;
    }
    return 0;
  }

  std::string fixture_repo_;
  fs::path dir_;
  testing::ServeProcess server_;
};

TEST_F(ServeOperations, ExplicitModeLoadsAndUnloadsWithMemoryReturning) {
  AddModel("add_one", "add_one");
  AddModel("tiny_cnn", "tiny_cnn");
  AddModel("transformer", "transformer");
  Serve({"--model-control-mode", "explicit", "--load-model", "add_one"});
  EXPECT_EQ(Get("/v2/models/add_one/ready").status, 200);
  EXPECT_EQ(Get("/v2/models/tiny_cnn/ready").status, 404);

  json index = PostJson("/v2/repository/index", 200);
  ASSERT_TRUE(index.is_array()) << index;
  ASSERT_EQ(index.size(), 3u) << index;
  EXPECT_EQ(index[0]["name"], "add_one");
  EXPECT_EQ(index[0]["state"], "READY");
  EXPECT_EQ(index[1]["state"], "UNAVAILABLE");
  EXPECT_EQ(index[1]["reason"], "unloaded");
  EXPECT_EQ(PostJson("/v2/repository/index", 200, R"({"ready":true})").size(), 1u);

  // tiny_cnn asks for its own process: loading it starts a worker, unloading stops it.
  json loaded = PostJson("/v2/repository/models/tiny_cnn/load", 200);
  EXPECT_EQ(loaded["state"], "READY") << loaded;
  EXPECT_TRUE(loaded["new_worker"].get<bool>()) << loaded;
  EXPECT_EQ(Get("/v2/models/tiny_cnn/ready").status, 200);
  const pid_t cnn_worker = WorkerPidOf(loaded["worker"]);
  ASSERT_GT(cnn_worker, 0) << loaded;
  json unloaded = PostJson("/v2/repository/models/tiny_cnn/unload", 200);
  EXPECT_TRUE(unloaded["worker_stopped"].get<bool>()) << unloaded;
  ASSERT_TRUE(unloaded["freed_bytes"].is_number()) << unloaded;
  EXPECT_GT(unloaded["freed_bytes"].get<uint64_t>(), 10 * kMiB) << "a whole LibTorch process";
  EXPECT_FALSE(testing::WorkerAlive(cnn_worker));
  EXPECT_EQ(Get("/v2/models/tiny_cnn/ready").status, 404);
  EXPECT_EQ(Post("/v2/repository/models/tiny_cnn/unload").status, 404);

  // The transformer joins the shared worker; cycles must not grow it without bound.
  std::vector<uint64_t> rss_after_unload;
  for (int cycle = 0; cycle < 4; ++cycle) {
    json l = PostJson("/v2/repository/models/transformer/load", 200);
    EXPECT_FALSE(l["new_worker"].get<bool>()) << l;
    json u = PostJson("/v2/repository/models/transformer/unload", 200);
    EXPECT_FALSE(u["worker_stopped"].get<bool>()) << u;
    EXPECT_TRUE(u["freed_bytes"].is_number()) << u;
    const json status = Status();
    for (const auto& w : status["workers"]) {
      if (w["name"] == "cpu-shared") rss_after_unload.push_back(w["memory_bytes"].get<uint64_t>());
    }
  }
  ASSERT_EQ(rss_after_unload.size(), 4u);
  EXPECT_LE(rss_after_unload.back(), rss_after_unload.front() + 64 * kMiB)
      << "the shared worker grows by more than 64 MiB over load/unload cycles";
  // add_one served throughout.
  EXPECT_EQ(Post("/v2/models/add_one/infer", kAddOneBody).status, 200);
}

// A request waiting in a dynamic batch (3 s queue delay) is answered before the unload
// frees its model.
TEST_F(ServeOperations, UnloadWaitsForTheRequestsItHas) {
  AddModel("slow", "two_in_two_out");
  {
    const fs::path path = dir_ / "repo" / "slow" / "config.pbtxt";
    std::ifstream in(path);
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    config = std::regex_replace(config, std::regex("max_queue_delay_microseconds: [0-9]+"),
                                "max_queue_delay_microseconds: 3000000");
    std::ofstream(path) << config;
  }
  Serve({"--model-control-mode", "explicit", "--load-model", "slow"});
  const std::string body =
      R"({"inputs":[{"name":"INPUT__0","datatype":"INT64","shape":[1,4],"data":[1,2,3,4]},)"
      R"({"name":"INPUT__1","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]})";
  int status = 0;
  std::thread client([&] { status = Post("/v2/models/slow/infer", body).status; });
  std::this_thread::sleep_for(milliseconds(1000));  // ordering only: the request is queued
  const auto started = std::chrono::steady_clock::now();
  json unloaded = PostJson("/v2/repository/models/slow/unload", 200);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  client.join();
  EXPECT_EQ(status, 200) << "the queued request was answered";
  EXPECT_TRUE(unloaded["drained"].get<bool>()) << unloaded;
  EXPECT_GT(waited, 0.5) << "the unload waited for the queued request";
  EXPECT_EQ(Get("/v2/models/slow/ready").status, 404);
}

TEST_F(ServeOperations, AdmissionRefusesWhatDoesNotFitAndDisturbsNothing) {
  AddModel("a", "add_one", 600 * kMiB);
  AddModel("b", "add_one", 600 * kMiB);
  Serve({"--gpus", "cpu:1x1000MiB", "--model-control-mode", "explicit"});
  PostJson("/v2/repository/models/a/load", 200);
  HttpResponse refused = Post("/v2/repository/models/b/load");
  EXPECT_EQ(refused.status, 507) << refused.body;
  const std::string error = json::parse(refused.body).value("error", "");
  EXPECT_NE(error.find("needs 600 MiB"), std::string::npos) << error;
  // 1000 - (600 + a worker's 154 MiB) = 246 free; b needs 600 in that same worker.
  EXPECT_NE(error.find("cpu0 has 246 MiB free of 1000 MiB"), std::string::npos) << error;
  EXPECT_NE(error.find("at least 354 MiB more is needed on cpu0"), std::string::npos) << error;
  EXPECT_EQ(Post("/v2/models/a/infer", kAddOneBody).status, 200);
  json index = PostJson("/v2/repository/index", 200);
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[1]["state"], "UNAVAILABLE");
  EXPECT_NE(index[1]["reason"].get<std::string>().find("needs 600 MiB"), std::string::npos);
  // Bad names and modes are refused before anything happens.
  EXPECT_EQ(Post("/v2/repository/models/..%2Fetc/load").status, 400);
  EXPECT_EQ(Post("/v2/repository/models/absent/load").status, 404);
  EXPECT_EQ(Post("/v2/repository/models/a/load", "[1,2]").status, 400);
}

// Two devices of 1200 MiB (each worker costs 154 MiB): a and b fill one each, c (300)
// joins a; with a gone, d (800) fits nowhere until a re-plan moves c next to b, which stops
// the first device's worker.
TEST_F(ServeOperations, ReplanConsolidatesSoThatABigModelFits) {
  AddModel("a", "add_one", 600 * kMiB);
  AddModel("b", "add_one", 600 * kMiB);
  AddModel("c", "add_one", 300 * kMiB);
  AddModel("d", "add_one", 800 * kMiB);
  Serve({"--gpus", "cpu:2x1200MiB", "--model-control-mode", "explicit"});
  for (const char* m : {"a", "b", "c"})
    PostJson(std::string("/v2/repository/models/") + m + "/load", 200);
  ASSERT_NE(DeviceOf("a"), DeviceOf("b"));
  ASSERT_EQ(DeviceOf("c"), DeviceOf("a"));
  PostJson("/v2/repository/models/a/unload", 200);
  EXPECT_EQ(Post("/v2/repository/models/d/load").status, 507);

  json dry = PostJson("/v2/modelgrid/replan", 200, R"({"dry_run":true})");
  ASSERT_EQ(dry["moves"].size(), 1u) << dry;
  EXPECT_EQ(dry["moves"][0]["model"], "c");
  json done = PostJson("/v2/modelgrid/replan", 200);
  ASSERT_EQ(done["moved"].size(), 1u) << done;
  EXPECT_EQ(done["failed"].size(), 0u) << done;
  EXPECT_EQ(DeviceOf("c"), DeviceOf("b"));
  EXPECT_LT(done["fragmentation_after"].get<double>(), done["fragmentation_before"].get<double>());
  PostJson("/v2/repository/models/d/load", 200);
  for (const char* m : {"b", "c", "d"}) {
    EXPECT_EQ(Post(std::string("/v2/models/") + m + "/infer", kAddOneBody).status, 200) << m;
  }
  // Nothing more to gain: a second re-plan moves nothing.
  EXPECT_EQ(PostJson("/v2/modelgrid/replan", 200)["moves"].size(), 0u);
}

TEST_F(ServeOperations, FragmentationThresholdTriggersTheReplan) {
  AddModel("a", "add_one", 600 * kMiB);
  AddModel("b", "add_one", 600 * kMiB);
  AddModel("c", "add_one", 300 * kMiB);
  Serve({"--gpus", "cpu:2x1200MiB", "--model-control-mode", "explicit", "--load-model", "a",
         "--load-model", "b", "--load-model", "c", "--replan-fragmentation", "0.3"});
  ASSERT_EQ(DeviceOf("c"), DeviceOf("a"));
  json unloaded = PostJson("/v2/repository/models/a/unload", 200);
  ASSERT_TRUE(unloaded.contains("replan")) << unloaded;
  EXPECT_EQ(unloaded["replan"]["moved"].size(), 1u) << unloaded;
  EXPECT_EQ(DeviceOf("c"), DeviceOf("b"));
}

// Replicas go to distinct devices; requests go to a live one, so losing one instance's
// worker leaves the model ready and serving.
TEST_F(ServeOperations, ReplicasSpreadOverDevicesAndSurviveAWorkerDeath) {
  AddModel("r", "add_one", 100 * kMiB);
  {
    std::ofstream config(dir_ / "repo" / "r" / "config.pbtxt", std::ios::app);
    config << "parameters { key: \"replicas\" value: { string_value: \"3\" } }\n";
  }
  Serve({"--gpus", "cpu:2x1000MiB", "--model-control-mode", "explicit"});
  json loaded = PostJson("/v2/repository/models/r/load", 200);
  ASSERT_EQ(loaded["instances"].size(), 2u) << loaded;
  EXPECT_NE(loaded["instances"][0]["device"], loaded["instances"][1]["device"]);
  EXPECT_EQ(loaded["instances_wanted"], 3);
  ASSERT_EQ(loaded["notes"].size(), 1u) << loaded;
  EXPECT_NE(loaded["notes"][0].get<std::string>().find("serving 2 of 3 instances"),
            std::string::npos);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Post("/v2/models/r/infer", kAddOneBody).status, 200);

  const pid_t victim = WorkerPidOf(loaded["instances"][1]["worker"]);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  // Once the server has seen the exit, every request goes to the live instance.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  bool noticed = false;
  while (!noticed && std::chrono::steady_clock::now() < deadline) {
    const json status = Status();
    for (const auto& w : status["workers"]) {
      noticed = noticed ||
                (w["name"] == loaded["instances"][1]["worker"] && !w["up"].get<bool>()) ||
                (w["name"] == loaded["instances"][1]["worker"] && w["restarts"].get<int>() > 0);
    }
    if (!noticed) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(noticed) << "the server did not notice the worker's death";
  EXPECT_EQ(Get("/v2/models/r/ready").status, 200);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Post("/v2/models/r/infer", kAddOneBody).status, 200);

  json unloaded = PostJson("/v2/repository/models/r/unload", 200);
  EXPECT_EQ(unloaded["stopped_workers"].size(), 2u) << unloaded;
}

TEST_F(ServeOperations, TheInitialPlanPlacesReplicasOnDistinctDevices) {
  AddModel("r", "add_one", 100 * kMiB);
  {
    std::ofstream config(dir_ / "repo" / "r" / "config.pbtxt", std::ios::app);
    config << "parameters { key: \"replicas\" value: { string_value: \"2\" } }\n";
  }
  Serve({"--gpus", "cpu:2x1000MiB"});
  const json status = Status();
  ASSERT_EQ(status["models"].size(), 1u) << status;
  const json& instances = status["models"][0]["instances"];
  ASSERT_EQ(instances.size(), 2u) << status;
  EXPECT_NE(instances[0]["device"], instances[1]["device"]);
  EXPECT_EQ(testing::WorkersOf(server_.pid()).size(), 2u);
  EXPECT_EQ(Post("/v2/models/r/infer", kAddOneBody).status, 200);
}

// instance_group count 2: two instances in one slot of a worker of the model's own, with
// two execution threads, planned as two whole footprints; every request is answered.
TEST_F(ServeOperations, AnInstanceGroupCountRunsThatManyInstancesInAWorkerOfItsOwn) {
  AddModel("g", "add_one", 100 * kMiB);
  AddModel("plain", "add_one", 100 * kMiB);
  {
    const fs::path path = dir_ / "repo" / "g" / "config.pbtxt";
    std::ifstream in(path);
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    config = std::regex_replace(config, std::regex("count: 1"), "count: 2");
    std::ofstream(path) << config;
  }
  Serve({"--gpus", "cpu:1x1000MiB"});
  const json status = Status();
  json g, g_worker;
  for (const auto& m : status["models"]) {
    if (m["name"] == "g") g = m;
  }
  ASSERT_FALSE(g.is_null()) << status;
  EXPECT_EQ(g["instances_per_device"], 2) << g;
  ASSERT_EQ(g["instances"].size(), 1u) << g;
  EXPECT_EQ(g["planned_bytes"], 200 * kMiB) << g;
  for (const auto& w : status["workers"]) {
    if (w["name"] == g["instances"][0]["worker"]) g_worker = w;
  }
  ASSERT_FALSE(g_worker.is_null()) << status;
  EXPECT_TRUE(g_worker["isolated"].get<bool>()) << g_worker;
  EXPECT_EQ(g_worker["execution_threads"], 2) << g_worker;
  EXPECT_EQ(g_worker["models"], json::array({"g"})) << g_worker;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      HttpClient c(server_.port(), milliseconds(30'000));
      for (int k = 0; k < 25; ++k) {
        HttpResponse r = c.Post("/v2/models/g/infer", kAddOneBody);
        if (r.status == 200 &&
            json::parse(r.body)["outputs"][0]["data"] == json::array({2.0, 3.0, 4.0, 5.0})) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 100);
  // Its instances cannot run side by side in the shared worker.
  const json refused = PostJson("/v2/modelgrid/models/g/move", 400, R"({"isolation":"shared"})");
  EXPECT_NE(refused["error"].get<std::string>().find("worker of its own"), std::string::npos)
      << refused;
}

TEST_F(ServeOperations, MovesUnderLoadFailNoRequest) {
  AddModel("add_one", "add_one");
  Serve({"--model-control-mode", "explicit", "--load-model", "add_one"});
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      HttpClient c(server_.port(), milliseconds(30'000));
      while (!stop) {
        HttpResponse r = c.Post("/v2/models/add_one/infer", kAddOneBody);
        if (r.status == 200) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          if (first_failure.empty())
            first_failure = std::to_string(r.status) + " " + r.error + r.body;
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(300));
  json to_own = PostJson("/v2/modelgrid/models/add_one/move", 200, R"({"isolation":"process"})");
  EXPECT_EQ(to_own["to"]["worker"], "cpu-add_one") << to_own;
  const int after_first = ok.load();
  std::this_thread::sleep_for(milliseconds(300));
  json back = PostJson("/v2/modelgrid/models/add_one/move", 200, R"({"isolation":"shared"})");
  EXPECT_EQ(back["to"]["worker"], "cpu-shared") << back;
  std::this_thread::sleep_for(milliseconds(300));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GT(ok.load(), after_first) << "requests were served after the first move";
  EXPECT_EQ(Post("/v2/modelgrid/models/add_one/move", R"({"isolation":"shared"})").status, 400);
  EXPECT_EQ(Post("/v2/modelgrid/models/add_one/move", R"({"device":"gpu7"})").status, 400);
}

TEST_F(ServeOperations, MetricsCountWhatHappened) {
  AddModel("add_one", "add_one");
  Serve({});
  for (int i = 0; i < 7; ++i) ASSERT_EQ(Post("/v2/models/add_one/infer", kAddOneBody).status, 200);
  // Measured gauges come from the Observer's sampler (as Triton's --metrics-interval-ms):
  // a worker's memory appears within one interval of its start.
  HttpResponse r;
  Result<std::vector<server::PrometheusSample>> samples = std::vector<server::PrometheusSample>{};
  for (int tries = 0; tries < 200; ++tries) {
    r = Get("/metrics");
    ASSERT_EQ(r.status, 200);
    samples = server::ParsePrometheusText(r.body);
    ASSERT_TRUE(samples.ok()) << samples.status().ToString() << "\n" << r.body;
    if (server::FindSample(*samples, "modelgrid_worker_memory_bytes", {{"worker", "cpu-shared"}}))
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_NE(r.Header("content-type").find("text/plain; version=0.0.4"), std::string::npos);
  const server::Labels model = {{"model", "add_one"}, {"version", "1"}};
  EXPECT_EQ(server::FindSample(*samples, "nv_inference_request_success", model), 7);
  EXPECT_EQ(server::FindSample(*samples, "nv_inference_request_failure", model), 0);
  EXPECT_EQ(server::FindSample(*samples, "nv_inference_count", model), 7);
  EXPECT_EQ(server::FindSample(*samples, "nv_inference_exec_count", model), 7);
  EXPECT_GT(server::FindSample(*samples, "nv_inference_request_duration_us", model).value_or(0), 0);
  EXPECT_GT(
      server::FindSample(*samples, "nv_inference_compute_infer_duration_us", model).value_or(0), 0);
  EXPECT_EQ(server::FindSample(*samples, "modelgrid_model_ready", model), 1);
  EXPECT_GT(server::FindSample(*samples, "modelgrid_model_measured_bytes", model).value_or(0), 0);
  EXPECT_GT(server::FindSample(*samples, "modelgrid_model_estimated_bytes", model).value_or(0), 0);
  EXPECT_EQ(server::FindSample(*samples, "modelgrid_device_contexts", {{"device", "cpu"}}), 1);
  EXPECT_GT(server::FindSample(*samples, "nv_cpu_memory_total_bytes").value_or(0), 0);
  EXPECT_GT(
      server::FindSample(*samples, "modelgrid_worker_memory_bytes", {{"worker", "cpu-shared"}})
          .value_or(0),
      0);
  EXPECT_EQ(server::FindSample(*samples, "modelgrid_worker_restarts_total"), 0);
}

TEST_F(ServeOperations, StatusCommandAndJsonLogsShowTheLiveState) {
  AddModel("add_one", "add_one");
  AddModel("tiny_cnn", "tiny_cnn");
  const std::string log_file = (dir_ / "modelgrid.log").string();
  Serve({"--log-format", "json", "--log-file", log_file, "--api-key", "k3y"});
  ASSERT_EQ(Post("/v2/models/add_one/infer", kAddOneBody, {{"Authorization", "Bearer k3y"}}).status,
            200);
  const std::string url = "http://127.0.0.1:" + std::to_string(server_.port());
  auto status = testing::RunCommand(std::string(MODELGRID_BINARY) + " status --once --url " + url +
                                    " --api-key k3y");
  EXPECT_EQ(status.exit_code, 0) << status.out;
  for (const char* expected : {"cpu-shared", "cpu-tiny_cnn", "add_one", "tiny_cnn", "READY"}) {
    EXPECT_NE(status.out.find(expected), std::string::npos) << expected << "\n" << status.out;
  }
  auto denied = testing::RunCommand(std::string(MODELGRID_BINARY) + " status --once --url " + url);
  EXPECT_EQ(denied.exit_code, 1) << denied.out;
  // JSON logs: one object per line, in the file as on stderr.
  server_.Stop(SIGTERM);
  std::ifstream in(log_file);
  std::string line;
  int lines = 0;
  bool ready_line = false;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("message")) << line;
    ready_line = ready_line || j["message"].get<std::string>().find("model add_one ready") == 0;
    ++lines;
  }
  EXPECT_GT(lines, 3);
  EXPECT_TRUE(ready_line);
}

TEST_F(ServeOperations, ApiKeyGuardsEverythingButLiveness) {
  AddModel("add_one", "add_one");
  Serve({"--api-key", "s3cret"});
  EXPECT_EQ(Get("/v2/health/live").status, 200);
  HttpResponse denied = Get("/v2/health/ready");
  EXPECT_EQ(denied.status, 401);
  EXPECT_NE(denied.Header("www-authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(Get("/v2/health/ready", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(Get("/v2/health/ready", {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(Get("/metrics").status, 401);
  EXPECT_EQ(Post("/v2/models/add_one/infer", kAddOneBody).status, 401);
  EXPECT_EQ(
      Post("/v2/models/add_one/infer", kAddOneBody, {{"Authorization", "bearer s3cret"}}).status,
      200);
}

TEST_F(ServeOperations, WorkersDropPrivilegesAndDieWithAKilledServer) {
  AddModel("add_one", "add_one");
  AddModel("tiny_cnn", "tiny_cnn");
  Serve({});
  const auto workers = testing::WorkersOf(server_.pid());
  ASSERT_EQ(workers.size(), 2u);
  for (const auto& w : workers) {
    const std::string status = testing::ReadWholeFile("/proc/" + std::to_string(w.pid) + "/status");
    EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << w.cmdline;
    EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
  }
  server_.Stop(SIGKILL);  // checks that no worker outlives it
}

// Cpus_allowed_list of every thread of `pid`, one line each ("" when it is gone).
std::vector<std::string> ThreadCpuLists(pid_t pid) {
  std::vector<std::string> lists;
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : fs::directory_iterator(tasks, ec)) {
    const std::string status = testing::ReadWholeFile(task.path().string() + "/status");
    const size_t at = status.find("Cpus_allowed_list:\t");
    if (at == std::string::npos) continue;
    const size_t from = at + std::string("Cpus_allowed_list:\t").size();
    lists.push_back(status.substr(from, status.find('\n', from) - from));
  }
  return lists;
}

TEST_F(ServeOperations, HostPolicyPinsEveryWorkerThreadAndTheRestartedWorker) {
  const std::vector<int> cores = testing::AllowedCpus();
  ASSERT_FALSE(cores.empty());
  // The workers get the first core; the server, started with only the last one (as with
  // `taskset`), keeps it: a policy may name cores outside the server's own affinity.
  const std::string core = std::to_string(cores.front());
  const std::string server_core = std::to_string(cores.back());
  if (cores.size() < 2) {
    std::cerr << "[ NOTE     ] one core only: the server and its workers share it, so this "
                 "test cannot check that they are kept apart\n";
  }
  AddModel("add_one", "add_one");
  AddModel("tiny_cnn", "tiny_cnn");
  cpu_set_t last;
  CPU_ZERO(&last);
  CPU_SET(cores.back(), &last);
  ASSERT_EQ(::sched_setaffinity(0, sizeof last, &last), 0);
  Serve({"--host-policy", "cpu,cpu-cores=" + core});
  cpu_set_t mine;
  CPU_ZERO(&mine);
  for (int c : cores) CPU_SET(c, &mine);
  ASSERT_EQ(::sched_setaffinity(0, sizeof mine, &mine), 0);
  ASSERT_EQ(Post("/v2/models/add_one/infer", kAddOneBody).status, 200);
  const auto workers = testing::WorkersOf(server_.pid());
  ASSERT_EQ(workers.size(), 2u);
  for (const auto& w : workers) {
    const auto lists = ThreadCpuLists(w.pid);
    ASSERT_FALSE(lists.empty()) << w.cmdline;
    for (const auto& list : lists) EXPECT_EQ(list, core) << w.cmdline;
  }
  // The server's own threads are not bound by the policy.
  for (const auto& list : ThreadCpuLists(server_.pid())) EXPECT_EQ(list, server_core);
  EXPECT_NE(testing::ReadWholeFile((dir_ / "server.log").string())
                .find("host policy cpu: cpu's workers run with cpu-cores=" + core),
            std::string::npos);

  // A worker that restarts is bound again.
  const pid_t victim = workers[0].pid;
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  pid_t restarted = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (restarted == 0 && std::chrono::steady_clock::now() < deadline) {
    for (const auto& w : testing::WorkersOf(server_.pid())) {
      if (w.pid != victim && w.pid != workers[1].pid) restarted = w.pid;
    }
    if (restarted == 0) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_GT(restarted, 0) << "the killed worker did not come back";
  for (const auto& list : ThreadCpuLists(restarted)) EXPECT_EQ(list, core);
}

TEST_F(ServeOperations, HostPoliciesThatCannotHoldStopTheServerWithTheReason) {
  AddModel("add_one", "add_one");
  const std::string serve = std::string(MODELGRID_BINARY) + " serve " + (dir_ / "repo").string() +
                            " --port 0 --grpc-port 0 --host-policy ";
  auto unknown = testing::RunCommand(serve + "cpu,cpu-set=0");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("unknown setting \"cpu-set\""), std::string::npos) << unknown.out;
  auto no_device = testing::RunCommand(serve + "gpu_0,cpu-cores=0");
  EXPECT_NE(no_device.exit_code, 0) << no_device.out;
  EXPECT_NE(no_device.out.find("--host-policy gpu_0: no device of this server has that policy "
                               "name (its devices' are: cpu)"),
            std::string::npos)
      << no_device.out;
  auto no_core = testing::RunCommand(serve + "cpu,cpu-cores=4095");
  EXPECT_NE(no_core.exit_code, 0) << no_core.out;
  EXPECT_NE(no_core.out.find("--host-policy cpu: cores 4095 are not online on this host"),
            std::string::npos)
      << no_core.out;
}

TEST_F(ServeOperations, PollModeFollowsTheRepository) {
  AddModel("a", "add_one");
  Serve({"--model-control-mode", "poll", "--repository-poll-secs", "1"});
  EXPECT_EQ(Get("/v2/models/a/ready").status, 200);
  EXPECT_EQ(Post("/v2/repository/models/a/unload").status, 400) << "no API control in poll mode";
  AddModel("b", "add_one");
  auto wait_for = [&](const std::string& path, int status) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    int last = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if ((last = Get(path).status) == status) return true;
      std::this_thread::sleep_for(milliseconds(200));
    }
    ADD_FAILURE() << path << " stayed " << last << ", expected " << status;
    return false;
  };
  wait_for("/v2/models/b/ready", 200);
  fs::remove_all(dir_ / "repo" / "a");
  wait_for("/v2/models/a/ready", 404);
  EXPECT_EQ(Post("/v2/models/b/infer", kAddOneBody).status, 200);
}

}  // namespace
}  // namespace modelgrid
