// End-to-end: the modelgrid binary's status command against an in-process HttpServer whose
// fake service answers a fixed GET /v2/modelgrid/status document.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include <nlohmann/json.hpp>

#include "server/http_server.h"
#include "support/run_command.h"

namespace modelgrid {
namespace {

using nlohmann::json;
using testing::RunCommand;

const std::string kBinary = MODELGRID_BINARY;

// ServerStatus answers a fixed document whose request counts grow by 10 per call.
class StatusService : public server::InferenceService {
 public:
  bool Live() override { return true; }
  bool Ready() override { return true; }
  Result<json> ServerMetadata() override {
    return json{{"name", "modelgrid"}, {"version", "0.1.0"}, {"extensions", json::array()}};
  }
  Result<json> ModelMetadata(const std::string& model, const std::string&) override {
    return NotFound(model);
  }
  Result<bool> ModelReady(const std::string& model, const std::string&) override {
    return NotFound(model);
  }
  Result<json> ModelStats(const std::string&, const std::string&) override {
    return json{{"model_stats", json::array()}};
  }
  void Infer(server::InferRequest,
             std::function<void(Result<server::InferResponse>)> done) override {
    done(NotFound("no models"));
  }
  Result<json> ServerStatus() override {
    const int64_t calls = calls_++;
    json doc = json::parse(R"({
      "server": {"name": "modelgrid", "version": "0.1.0", "uptime_s": 12.5,
                 "model_control_mode": "explicit", "strategy": "memory-optimized"},
      "devices": [{"device": "cpu", "name": "cpu", "capacity_bytes": 68719476736,
                   "planned_bytes": 1073741824, "used_bytes": null, "workers": 1},
                  {"device": "cuda:0", "name": "H100-80GB", "capacity_bytes": 85899345920,
                   "planned_bytes": 2147483648, "used_bytes": 1610612736, "workers": 1}],
      "workers": [{"name": "cpu-shared", "device": "cpu", "pid": 4242, "isolated": false,
                   "up": true, "restarts": 0, "budget_bytes": 1073741824,
                   "memory_bytes": null, "models": ["resnet", "bert"]}],
      "models": [{"name": "resnet", "version": "1", "state": "READY", "worker": "cpu-shared",
                  "device": "cpu", "estimated_bytes": 110100480, "planned_bytes": 115343360,
                  "measured_bytes": 104857600, "success": 0, "failure": 2,
                  "inferences": 0, "last_error": "", "tier": "parked"},
                 {"name": "bert", "version": "1", "state": "FAILED", "worker": "cpu-shared",
                  "device": "cpu", "estimated_bytes": 524288000, "planned_bytes": 524288000,
                  "measured_bytes": null, "success": 0, "failure": 0, "inferences": 0,
                  "last_error": "worker crashed while loading"}],
      "host_cache": {"capacity_bytes": 2147483648, "parked_bytes": 115343360,
                     "wait_ms": 10000}})");
    doc["models"][0]["success"] = 100 + 10 * calls;
    doc["models"][0]["inferences"] = 100 + 10 * calls;
    return doc;
  }

 private:
  std::atomic<int64_t> calls_{0};
};

class CliStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.api_key = "k3y";
    auto s = server::HttpServer::Start(options, service_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  std::string Status(const std::string& args) {
    return "MODELGRID_API_KEY= " + kBinary +
           " status --url http://127.0.0.1:" + std::to_string(server_->port()) + " " + args;
  }
  StatusService service_;
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(CliStatusTest, PrintsTables) {
  auto r = RunCommand(Status("--api-key k3y --interval 0.1"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* want :
       {"modelgrid 0.1.0", "explicit", "memory-optimized", "H100-80GB", "80.0 GiB", "1.5 GiB",
        "cpu-shared", "4242", "resnet,bert", "105.0 MiB", "100.0 MiB", "+5.0%", "READY", "FAILED",
        "bert: last error: worker crashed while loading", "TIER", "parked",
        "host cache: 110.0 MiB parked of 2.0 GiB"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
}

TEST_F(CliStatusTest, JsonAddsRates) {
  auto r = RunCommand(Status("--api-key k3y --json --interval 0.1"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["server"]["strategy"], "memory-optimized");
  EXPECT_GT(doc["interval_s"].get<double>(), 0);
  EXPECT_GT(doc["models"][0]["requests_per_s"].get<double>(), 0);
  EXPECT_EQ(doc["models"][1]["requests_per_s"], 0.0);

  auto once = RunCommand(Status("--api-key k3y --json --once"));
  ASSERT_EQ(once.exit_code, 0) << once.out;
  const json single = json::parse(once.out);
  EXPECT_FALSE(single.contains("interval_s"));
  EXPECT_FALSE(single["models"][0].contains("requests_per_s"));
}

TEST_F(CliStatusTest, WrongApiKeyFails) {
  auto r = RunCommand(Status("--api-key wrong --once"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("API key"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("401"), std::string::npos) << r.out;
}

TEST_F(CliStatusTest, UnreachableServerFails) {
  const uint16_t port = server_->port();
  server_->Stop(std::chrono::milliseconds(0));
  auto r = RunCommand(kBinary + " status --once --url 127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot reach"), std::string::npos) << r.out;
  auto bad = RunCommand(kBinary + " status --once --url https://127.0.0.1:1");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("https"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace modelgrid
