// Loading the models to plan: JSON manifests, Triton repositories, and their errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "estimate/estimator.h"
#include "plan/manifest.h"
#include "support/hf_builder.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;

class PlanManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mg_plan_manifest_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::WriteShardedLlama((dir_ / "llama").string(), 2, 256, 4, 2, 512, 1000, 1, "F16");
  }
  void TearDown() override { fs::remove_all(dir_); }
  Result<std::vector<ModelRequest>> Parse(const std::string& text) {
    return ParseManifest(text, dir_.string(), {});
  }
  fs::path dir_;
};

TEST_F(PlanManifestTest, ReadsEveryKey) {
  auto models = Parse(R"({"models": [
    {"name": "a", "memory_bytes": 1000, "isolation": "process", "latency_sensitive": true,
     "replicas": 3, "expected_load": 2.5},
    {"name": "b", "path": "llama", "batch": 2, "seq": 64, "dtype": "fp16"},
    {"path": "llama"}]})");
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 3u);
  const auto& a = (*models)[0];
  EXPECT_EQ(a.footprint_bytes, 1000u);
  EXPECT_EQ(a.isolation, Isolation::kProcess);
  EXPECT_TRUE(a.latency_sensitive);
  EXPECT_EQ(a.replicas, 3);
  EXPECT_DOUBLE_EQ(a.expected_load, 2.5);
  EXPECT_GT((*models)[1].footprint_bytes, 0u);
  EXPECT_EQ((*models)[2].name, "llama");  // named after its path
  // The footprint excludes the context: the planner adds one per worker.
  EstimateOptions eo;
  eo.batch = 2;
  eo.sequence = 64;
  eo.dtype = ComputeDType::kFp16;
  auto e = EstimatePath((dir_ / "llama").string(), eo);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*models)[1].footprint_bytes, e->total_bytes - e->context_bytes);
  // What a shared worker reuses between its models: activations, KV cache and the cuBLAS
  // workspace; weights and the allocator slack stay resident.
  EXPECT_EQ((*models)[1].transient_bytes,
            e->activation_bytes + e->kv_cache_bytes + e->cublas_workspace_bytes);
  EXPECT_EQ((*models)[1].footprint_bytes - (*models)[1].transient_bytes,
            e->weights_bytes + e->allocator_slack_bytes);
  EXPECT_GT((*models)[1].transient_bytes, 0u);
  EXPECT_EQ(a.transient_bytes, 0u);  // a given footprint is all resident by default
}

TEST_F(PlanManifestTest, TransientBytesGoWithMemoryBytes) {
  auto models = Parse(R"({"models": [
    {"name": "a", "memory_bytes": 1000, "transient_bytes": 400},
    {"name": "b", "memory_bytes": 1000, "transient_bytes": 1000},
    {"name": "c", "memory_bytes": 1000, "transient_bytes": 0}]})");
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  EXPECT_EQ((*models)[0].transient_bytes, 400u);
  EXPECT_EQ((*models)[1].transient_bytes, 1000u);
  EXPECT_EQ((*models)[2].transient_bytes, 0u);
  struct Case {
    const char* json;
    const char* needle;
  } cases[] = {
      {R"({"models": [{"name": "o", "memory_bytes": 1000, "transient_bytes": 1001}]})",
       "model 'o': transient_bytes 1001 is outside 0..1000"},
      {R"({"models": [{"name": "n", "memory_bytes": 1000, "transient_bytes": -1}]})",
       "model 'n': transient_bytes -1"},
      {R"({"models": [{"name": "f", "memory_bytes": 1000, "transient_bytes": 0.5}]})",
       "transient_bytes must be an integer"},
      {R"({"models": [{"name": "e", "path": "llama", "transient_bytes": 10}]})",
       "model 'e': transient_bytes needs memory_bytes"},
  };
  for (const auto& c : cases) {
    auto bad = Parse(c.json);
    ASSERT_FALSE(bad.ok()) << c.json;
    EXPECT_NE(bad.status().message().find(c.needle), std::string::npos)
        << c.json << " -> " << bad.status().message();
  }
}

TEST_F(PlanManifestTest, ErrorsNameTheCulprit) {
  struct Case {
    const char* json;
    const char* needle;
  } cases[] = {
      {R"({"models": [{"name": "a", "memory_bytes": 1, "colour": "red"}]})",
       "unknown key 'colour'"},
      {R"({"models": [{"name": "a", "memory_bytes": 1}, {"name": "a", "memory_bytes": 2}]})",
       "duplicate model name 'a'"},
      {R"({"models": [{"name": "neg", "memory_bytes": -5}]})", "model 'neg'"},
      {R"({"models": [{"name": "big", "memory_bytes": 9000000000000000000}]})", "model 'big'"},
      {R"({"models": [{"name": "z", "memory_bytes": 0}]})", "model 'z'"},
      {R"({"models": [{"name": "f", "memory_bytes": 1.5}]})", "memory_bytes must be an integer"},
      {R"({"models": []})", "empty"},
      {R"({"modelz": []})", "unknown top-level key 'modelz'"},
      {R"({"models": [{"name": "i", "memory_bytes": 1, "isolation": "vm"}]})", "isolation 'vm'"},
      {R"({"models": [{"name": "r", "memory_bytes": 1, "replicas": 0}]})", "replicas 0"},
      {R"({"models": [{"name": "m", "path": "missing.onnx"}]})", "model 'm'"},
      {R"({"models": [{"name": "n"}]})", "needs a path"},
      {R"({"models": [{"name": "d", "path": "llama", "dtype": "fp8"}]})", "model 'd'"},
      {R"({"models": [{"name": "b", "path": "llama", "batch": 0}]})", "batch 0"},
      {"{not json", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto models = Parse(c.json);
    ASSERT_FALSE(models.ok()) << c.json;
    EXPECT_NE(models.status().message().find(c.needle), std::string::npos)
        << c.json << " -> " << models.status().message();
  }
}

TEST_F(PlanManifestTest, EstimatorRejectionsAreErrors) {
  std::ofstream(dir_ / "garbage.onnx") << "this is not protobuf \x01\x02";
  auto models = Parse(R"({"models": [{"name": "g", "path": "garbage.onnx"}]})");
  ASSERT_FALSE(models.ok());
  EXPECT_NE(models.status().message().find("model 'g'"), std::string::npos);
}

TEST_F(PlanManifestTest, TritonRepositoryUsesParametersAndMaxBatch) {
  const fs::path repo = dir_ / "repo";
  for (const char* name : {"small", "llm"}) fs::create_directories(repo / name / "1");
  std::ofstream(repo / "small" / "config.pbtxt") << R"(name: "small"
platform: "pytorch_libtorch"
max_batch_size: 4
parameters { key: "memory_bytes" value: { string_value: "123456" } }
parameters { key: "isolation" value: { string_value: "process" } }
parameters { key: "latency_sensitive" value: { string_value: "true" } }
parameters { key: "replicas" value: { string_value: "2" } }
parameters { key: "transient_bytes" value: { string_value: "23456" } }
)";
  testing::WriteShardedLlama((repo / "llm" / "1").string(), 2, 256, 4, 2, 512, 1000, 1, "F16");
  std::ofstream(repo / "llm" / "config.pbtxt") << "name: \"llm\"\nmax_batch_size: 3\n";
  auto models = LoadModels(repo.string(), {});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 2u);
  const auto& llm = (*models)[0];
  const auto& small = (*models)[1];
  EXPECT_EQ(small.name, "small");
  EXPECT_EQ(small.footprint_bytes, 123456u);
  EXPECT_EQ(small.isolation, Isolation::kProcess);
  EXPECT_TRUE(small.latency_sensitive);
  EXPECT_EQ(small.replicas, 2);
  EXPECT_EQ(small.transient_bytes, 23456u);
  EstimateOptions eo;
  eo.batch = 3;
  auto e = EstimatePath((repo / "llm" / "1").string(), eo);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(llm.footprint_bytes, e->total_bytes - e->context_bytes);

  std::ofstream(repo / "small" / "config.pbtxt")
      << "name: \"small\"\nparameters { key: \"memory_bytes\" value: { string_value: \"-3\" } }\n";
  auto bad = LoadModels(repo.string(), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("memory_bytes"), std::string::npos);
  EXPECT_FALSE(LoadModels((dir_ / "nothing-here").string(), {}).ok());
}

TEST_F(PlanManifestTest, ConfigSizesTakeUnits) {
  const fs::path repo = dir_ / "units";
  fs::create_directories(repo / "m" / "1");
  auto write = [&](const std::string& memory, const std::string& transient) {
    std::ofstream(repo / "m" / "config.pbtxt")
        << "name: \"m\"\nparameters { key: \"memory_bytes\" value: { string_value: \"" << memory
        << "\" } }\nparameters { key: \"transient_bytes\" value: { string_value: \"" << transient
        << "\" } }\n";
  };
  write("2GiB", "512 MiB");
  auto models = LoadModels(repo.string(), {});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  EXPECT_EQ((*models)[0].footprint_bytes, uint64_t{2} << 30);
  EXPECT_EQ((*models)[0].transient_bytes, uint64_t{512} << 20);
  write("1500000000B", "0");
  models = LoadModels(repo.string(), {});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  EXPECT_EQ((*models)[0].footprint_bytes, 1500000000u);
  EXPECT_EQ((*models)[0].transient_bytes, 0u);
  write("2 parsecs", "0");
  auto bad = LoadModels(repo.string(), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("memory_bytes"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("not a size"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace modelgrid
