// GGUF weights as llama.cpp loads them: stored bytes exactly (quantised blocks stay
// quantised, F32 norms stay F32) unless a --dtype is asked for.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "estimate/estimator.h"
#include "estimate/report.h"
#include "support/gguf_builder.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;
using namespace modelgrid::testutil;  // NOLINT: the builder and the ggml enums

class GgufEstimate : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ =
        (fs::temp_directory_path() / ("mg_gguf_estimate_" + std::to_string(::getpid()) + ".gguf"))
            .string();
    std::string error;
    ASSERT_TRUE(LlamaGguf(shape_).WriteSparse(path_, &error)) << error;
  }
  void TearDown() override { fs::remove(path_); }

  // Q4_K: 144 bytes per 256 elements; Q6_K: 210 per 256; F32: 4 per element (ggml).
  uint64_t StoredBytes() const {
    const uint64_t h = shape_.hidden, v = shape_.vocab, f = shape_.ffn;
    const uint64_t kv = h / shape_.heads * shape_.kv_heads;
    auto q4k = [](uint64_t n) { return n / 256 * 144; };
    const uint64_t layer = 2 * h * 4 + q4k(h * h) * 2 + q4k(h * kv) * 2 + q4k(h * f) * 3;
    return q4k(h * v) + shape_.layers * layer + h * 4 + v * h / 256 * 210;
  }
  uint64_t Elements() const {
    const uint64_t h = shape_.hidden, v = shape_.vocab, f = shape_.ffn;
    const uint64_t kv = h / shape_.heads * shape_.kv_heads;
    return 2 * v * h + shape_.layers * (2 * h + 2 * h * h + 2 * h * kv + 3 * h * f) + h;
  }
  uint64_t VectorElements() const { return (2 * shape_.layers + 1) * uint64_t{shape_.hidden}; }

  LlamaGgufShape shape_;  // Q4_K matrices, Q6_K output, F32 norms
  std::string path_;
};

TEST_F(GgufEstimate, WeightsAreTheStoredBytesWithoutADtype) {
  auto e = EstimatePath(path_, {});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->format, "gguf");
  EXPECT_TRUE(e->weights_as_stored);
  EXPECT_EQ(e->weights_bytes, StoredBytes());
  EXPECT_EQ(e->parameters, Elements());
  EXPECT_NE(e->weights_source.find("as stored"), std::string::npos) << e->weights_source;
  EXPECT_TRUE(EstimateToJson(*e)["weights_as_stored"].get<bool>());
}

TEST_F(GgufEstimate, ADtypeConvertsEveryWeight) {
  EstimateOptions o;
  o.dtype = ComputeDType::kFp16;
  auto fp16 = EstimatePath(path_, o);
  ASSERT_TRUE(fp16.ok()) << fp16.status().ToString();
  EXPECT_FALSE(fp16->weights_as_stored);
  EXPECT_EQ(fp16->weights_bytes, Elements() * 2);
  o.dtype = ComputeDType::kFp32;
  auto fp32 = EstimatePath(path_, o);
  ASSERT_TRUE(fp32.ok());
  EXPECT_EQ(fp32->weights_bytes, Elements() * 4);
  o.dtype = ComputeDType::kInt8;  // matrices in int8, norms in fp16
  auto int8 = EstimatePath(path_, o);
  ASSERT_TRUE(int8.ok());
  EXPECT_EQ(int8->weights_bytes, Elements() - VectorElements() + VectorElements() * 2);
  // Activations and the KV cache do not depend on how the weights are stored.
  auto stored = EstimatePath(path_, {});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->kv_cache_bytes, fp16->kv_cache_bytes);
  EXPECT_EQ(stored->activation_bytes, fp16->activation_bytes);
}

}  // namespace
}  // namespace modelgrid
