// End-to-end: the modelgrid binary's plan command: table, JSON, SVG, `all`, bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/hf_builder.h"
#include "support/run_command.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;

const std::string kBinary = MODELGRID_BINARY;

class CliPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mg_cli_plan_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::WriteShardedLlama((dir_ / "llama").string(), 2, 256, 4, 2, 512, 1000, 1, "F16");
    Write("models.json", R"({"models": [
      {"name": "llama", "path": "llama", "batch": 2},
      {"name": "big", "memory_bytes": 30000000000, "isolation": "process"},
      {"name": "mid", "memory_bytes": 20000000000, "replicas": 2, "latency_sensitive": true},
      {"name": "small", "memory_bytes": 1000000000}]})");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::string Plan(const std::string& args) {
    return kBinary + " plan --models " + (dir_ / "models.json").string() + " " + args;
  }
  fs::path dir_;
};

TEST_F(CliPlanTest, JsonHasTheDocumentedShapeAndNeverOverCommits) {
  for (const char* strategy : {"fill-first", "balance-load", "memory-optimized",
                               "latency-sensitive", "optimal", "conventional"}) {
    auto r = RunCommand(Plan(std::string("--gpus 2xH100-80GB,1xL4 --json --strategy ") + strategy));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["strategy"], strategy);
    ASSERT_EQ(j["gpus"].size(), 3u);
    int instances = 0;
    for (const auto& g : j["gpus"]) {
      EXPECT_LE(g["planned_bytes"].get<uint64_t>(), g["capacity_bytes"].get<uint64_t>());
      for (const auto& w : g["workers"]) {
        EXPECT_TRUE(w["isolation"] == "shared" || w["isolation"] == "process");
        EXPECT_GT(w["context_bytes"].get<uint64_t>(), 0u);
        instances += static_cast<int>(w["models"].size());
      }
      EXPECT_TRUE(g.contains("index") && g.contains("name"));
    }
    EXPECT_EQ(instances + static_cast<int>(j["unplaced"].size()), 5);
    EXPECT_TRUE(j["lower_bound_gpus"].is_number_integer());
    EXPECT_TRUE(j["proven_optimal"].is_boolean());
  }
}

TEST_F(CliPlanTest, TableSvgAndAll) {
  const std::string svg = (dir_ / "plan.svg").string();
  auto r = RunCommand(Plan("--gpus 4x80GiB --strategy optimal --svg " + svg));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("shared worker"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("process worker"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("proven optimal"), std::string::npos) << r.out;
  std::ifstream in(svg);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_NE(text.find("llama"), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);

  auto all = RunCommand(Plan("--gpus 1xH200 --strategy all --time-limit 0.5"));
  ASSERT_EQ(all.exit_code, 0) << all.out;
  for (const char* s : {"fill-first", "balance-load", "memory-optimized", "latency-sensitive",
                        "optimal", "conventional", "density"}) {
    EXPECT_NE(all.out.find(s), std::string::npos) << s;
  }
  auto all_json = RunCommand(Plan("--gpus 1xH200 --strategy all --json"));
  ASSERT_EQ(all_json.exit_code, 0) << all_json.out;
  auto j = nlohmann::json::parse(all_json.out);
  EXPECT_EQ(j["plans"].size(), 6u);
  EXPECT_DOUBLE_EQ(j["plans"][5]["density_vs_conventional"].get<double>(), 1.0);
}

TEST_F(CliPlanTest, ContextAndReserveFlags) {
  auto r =
      RunCommand(Plan("--gpus 1x60GiB --context-bytes 1GiB --reserve-bytes 2GiB --json "
                      "--strategy fill-first"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  for (const auto& w : j["gpus"][0]["workers"]) EXPECT_EQ(w["context_bytes"], 1ull << 30);
}

TEST_F(CliPlanTest, HostCacheParksWhatFitsNoGpu) {
  // One 40 GiB GPU holds part of the manifest: what does not fit and may be parked is
  // parked, and the table and the JSON say so.
  auto r = RunCommand(Plan("--gpus 1x40GiB --host-cache 64GiB --strategy fill-first --json"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["host_cache_bytes"], 64ull << 30);
  uint64_t used = 0;
  for (const auto& p : j["parked"]) {
    EXPECT_NE(p["name"], "big");  // process-isolated: never parked
    EXPECT_NE(p["name"], "mid");  // latency-sensitive: never parked
    EXPECT_GT(p["swap_in_seconds"].get<double>(), 0.0);
    used += p["parked_bytes"].get<uint64_t>();
  }
  EXPECT_EQ(j["host_cache_used_bytes"], used);
  const size_t total =
      j["parked"].size() + j["unplaced"].size() + j["placed_instances"].get<size_t>();
  EXPECT_EQ(total, 5u);  // llama, big, mid x2, small
  auto table = RunCommand(Plan("--gpus 1x40GiB --host-cache 64GiB --strategy fill-first"));
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("parked in host memory"), std::string::npos) << table.out;
}

TEST_F(CliPlanTest, ZeroContextAndSizesInEveryUnit) {
  // Contexts already counted elsewhere cost nothing here; capacities exact to the byte.
  auto r =
      RunCommand(Plan("--gpus 4x85899345920B --context-bytes 0 --reserve-bytes 1.5GB --json "
                      "--strategy fill-first"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["gpus"].size(), 4u);
  size_t workers = 0;
  for (const auto& g : j["gpus"]) {
    EXPECT_EQ(g["capacity_bytes"], 85899345920ull);
    for (const auto& w : g["workers"]) {
      EXPECT_EQ(w["context_bytes"], 0u);
      ++workers;
    }
  }
  EXPECT_GT(workers, 0u);
  for (const char* flags : {"--context-bytes 686MiB", "--context-bytes 719323136",
                            "--context-bytes 719323136B", "--context-bytes 0.7GB"}) {
    auto ok = RunCommand(Plan(std::string("--gpus 2x80GiB --json ") + flags));
    EXPECT_EQ(ok.exit_code, 0) << flags << "\n" << ok.out;
  }
  // A manifest's sizes take units too.
  const std::string units = Write("units.json", R"({"models": [
      {"name": "a", "memory_bytes": "2GiB", "transient_bytes": "512MiB"},
      {"name": "b", "memory_bytes": "1500000000B"}]})");
  auto m = RunCommand(kBinary + " plan --gpus 1x8GiB --json --models " + units);
  ASSERT_EQ(m.exit_code, 0) << m.out;
  EXPECT_EQ(nlohmann::json::parse(m.out)["unplaced"].size(), 0u) << m.out;
}

TEST_F(CliPlanTest, BadInputGivesAClearErrorAndNonZeroExit) {
  const std::string dup = Write("dup.json", R"({"models": [{"name": "a", "memory_bytes": 1},
                                                          {"name": "a", "memory_bytes": 2}]})");
  const std::string unknown = Write("unknown.json", R"({"models": [{"name": "a", "size": 1}]})");
  const std::string neg = Write("neg.json", R"({"models": [{"name": "n", "memory_bytes": -1}]})");
  const std::string empty = Write("empty.json", R"({"models": []})");
  const std::string bad_model =
      Write("bad.json", R"({"models": [{"name": "x", "path": "nope.onnx"}]})");
  struct Case {
    std::string cmd;
    const char* needle;
  } cases[] = {
      {Plan("--gpus 2xH100 --strategy best"), "unknown strategy 'best'"},
      {Plan("--gpus 2xH900"), "unknown GPU 'H900'"},
      {Plan("--gpus 0x80GiB"), "at least 1"},
      {Plan("--gpus 80GiB --context-bytes -5"), "--context-bytes"},
      {Plan("--gpus 80GiB --reserve-bytes 999TiB"), "--reserve-bytes"},
      {Plan("--gpus 80GiB --context-bytes 12parsecs"), "not a size"},
      {Plan("--gpus 80GiB --host-cache lots"), "--host-cache"},
      {Plan("--gpus 80GiB --host-cache 100TiB"), "--host-cache: size"},
      {Plan("--gpus 4x1000B"), "out of range"},
      {kBinary + " plan --gpus 80GiB --models " + dup, "duplicate model name 'a'"},
      {kBinary + " plan --gpus 80GiB --models " + unknown, "unknown key 'size'"},
      {kBinary + " plan --gpus 80GiB --models " + neg, "model 'n'"},
      {kBinary + " plan --gpus 80GiB --models " + empty, "empty"},
      {kBinary + " plan --gpus 80GiB --models " + bad_model, "model 'x'"},
      {kBinary + " plan --gpus 80GiB --models " + (dir_ / "missing.json").string(), "missing"},
  };
  for (const auto& c : cases) {
    auto r = RunCommand(c.cmd);
    EXPECT_NE(r.exit_code, 0) << c.cmd;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
  }
}

TEST_F(CliPlanTest, AutoWithoutDriverExplainsInsteadOfCrashing) {
  auto r = RunCommand(Plan("--gpus auto --json"));
  if (r.exit_code != 0) {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace modelgrid
