// End-to-end: the modelgrid binary's estimate command, its JSON, and its errors.
#include <gtest/gtest.h>

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

class CliEstimateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mg_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::WriteShardedLlama((dir_ / "llama").string(), 2, 256, 4, 2, 512, 1000, 1, "F16");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CliEstimateTest, CpuEstimatesHaveNoCudaTerms) {
  auto r = RunCommand(kBinary + " estimate " + (dir_ / "llama").string() + " --gpu cpu --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["workspace_bytes"], 0u);
  EXPECT_EQ(j["details"]["cublas_workspace_bytes"], 0u);
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(),
            j["weights_bytes"].get<uint64_t>() + j["activation_bytes"].get<uint64_t>() +
                j["kv_cache_bytes"].get<uint64_t>() + j["context_bytes"].get<uint64_t>());
  auto table = RunCommand(kBinary + " estimate " + (dir_ / "llama").string() + " --gpu cpu");
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("device cpu"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("CUDA context"), std::string::npos) << table.out;
}

TEST_F(CliEstimateTest, VersionAndHelp) {
  auto v = RunCommand(kBinary + " version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("modelgrid "), std::string::npos);
  auto h = RunCommand(kBinary + " --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("estimate"), std::string::npos);
}

TEST_F(CliEstimateTest, JsonObjectWithSummingTerms) {
  auto r = RunCommand(kBinary + " estimate " + (dir_ / "llama").string() +
                      " --batch 2 --seq 64 --dtype fp16 --gpu H200 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  uint64_t sum = 0;
  for (const char* k : {"weights_bytes", "activation_bytes", "kv_cache_bytes", "workspace_bytes",
                        "context_bytes"}) {
    sum += j.at(k).get<uint64_t>();
  }
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(), sum);
  EXPECT_EQ(j["batch"], 2);
  EXPECT_EQ(j["dtype"], "fp16");
  EXPECT_EQ(j["format"], "huggingface");
  EXPECT_GT(j["parameters"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["kv_cache_bytes"].get<uint64_t>(), 2ull * 2 * 2 * 64 * 2 * 64 * 2);
}

TEST_F(CliEstimateTest, TableNamesEveryTerm) {
  auto r = RunCommand(kBinary + " estimate " + (dir_ / "llama").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* term :
       {"weights", "activations", "kv cache", "workspace", "context", "total", "assumptions"}) {
    EXPECT_NE(r.out.find(term), std::string::npos) << term;
  }
}

TEST_F(CliEstimateTest, BadInputGivesOneErrorLineAndNonZeroExit) {
  std::ofstream(dir_ / "garbage.safetensors") << "\xff\xff\xff\xff\xff\xff\xff\x7f{";
  std::ofstream(dir_ / "empty.gguf") << "GGUF";
  std::ofstream(dir_ / "text.onnx") << "this is not protobuf at all \x01\x02";
  struct Case {
    std::string args;
    const char* why;
  } cases[] = {
      {(dir_ / "missing.safetensors").string(), "missing file"},
      {(dir_ / "garbage.safetensors").string(), "lying header"},
      {(dir_ / "empty.gguf").string(), "truncated gguf"},
      {(dir_ / "text.onnx").string(), "not protobuf"},
      {(dir_ / "llama").string() + " --dtype fp8", "unknown dtype"},
      {(dir_ / "llama").string() + " --batch 0", "batch out of range"},
      {(dir_ / "llama").string() + " --batch x", "batch not a number"},
  };
  for (const auto& c : cases) {
    auto r = RunCommand(kBinary + " estimate " + c.args);
    EXPECT_NE(r.exit_code, 0) << c.why;
    EXPECT_LT(r.exit_code, 128) << c.why << ": crashed\n" << r.out;
    EXPECT_FALSE(r.out.empty()) << c.why;
  }
}

}  // namespace
}  // namespace modelgrid
