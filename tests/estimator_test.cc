#include "estimate/estimator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "estimate/report.h"
#include "estimate/transformer_activations.h"
#include "gpu/gpu_catalog.h"
#include "support/hf_builder.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;

class EstimatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("mg_estimator_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    // A small Llama: 4 layers, hidden 512, 8 heads, 2 KV heads, MLP 1536, vocab 32000.
    testing::WriteShardedLlama(dir_, 4, 512, 8, 2, 1536, 32000, 2, "BF16");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(EstimatorTest, WeightsAreExactAndTermsSumToTotal) {
  EstimateOptions o;
  o.batch = 4;
  o.sequence = 256;
  auto e = EstimatePath(dir_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const uint64_t per_layer = 512 + 512 * 512 + 2 * (128 * 512) + 512 * 512 + 512 + 3 * 1536 * 512;
  const uint64_t params = 4 * per_layer + 2 * 32000 * 512 + 512;
  EXPECT_EQ(e->parameters, params);
  EXPECT_EQ(e->dtype, ComputeDType::kBf16);  // the weights' own dtype
  EXPECT_EQ(e->weights_bytes, params * 2);
  // KV cache: 2 x layers x batch x seq x kv_heads x head_dim x 2 bytes.
  EXPECT_EQ(e->kv_cache_bytes, 2ull * 4 * 4 * 256 * 2 * 64 * 2);
  EXPECT_EQ(e->total_bytes, e->weights_bytes + e->activation_bytes + e->kv_cache_bytes +
                                e->workspace_bytes + e->context_bytes);
  EXPECT_GE(e->workspace_bytes, e->cublas_workspace_bytes);
  EXPECT_EQ(e->format, "huggingface");
  // The logits (batch x seq x vocab) are part of the activations.
  EXPECT_GE(e->activation_bytes, 4ull * 256 * 32000 * 2);
}

TEST_F(EstimatorTest, DtypeAndBatchScaleTheRightTerms) {
  EstimateOptions o;
  o.dtype = ComputeDType::kFp32;
  o.batch = 1;
  auto small = EstimatePath(dir_, o);
  o.batch = 8;
  auto big = EstimatePath(dir_, o);
  ASSERT_TRUE(small.ok() && big.ok());
  EXPECT_EQ(small->weights_bytes, big->weights_bytes);
  EXPECT_EQ(big->kv_cache_bytes, 8 * small->kv_cache_bytes);
  EXPECT_GT(big->activation_bytes, 7 * small->activation_bytes);
  o.dtype = ComputeDType::kInt8;
  auto int8 = EstimatePath(dir_, o);
  ASSERT_TRUE(int8.ok());
  EXPECT_LT(int8->weights_bytes, small->weights_bytes / 3);
}

TEST_F(EstimatorTest, ContextComesFromTheGpuCatalog) {
  EstimateOptions o;
  o.gpu = "H200";
  auto h200 = EstimatePath(dir_, o);
  ASSERT_TRUE(h200.ok());
  EXPECT_EQ(h200->context_bytes, 686ull << 20);
  EXPECT_EQ(h200->cublas_workspace_bytes, 32ull << 20);
  o.gpu = "T4";
  auto t4 = EstimatePath(dir_, o);
  ASSERT_TRUE(t4.ok());
  EXPECT_LT(t4->cublas_workspace_bytes, h200->cublas_workspace_bytes);
  o.gpu = "Mystery-9000";
  auto unknown = EstimatePath(dir_, o);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->context_bytes, 686ull << 20);
  EXPECT_NE(unknown->assumptions.front().find("not in the catalog"), std::string::npos);
}

TEST_F(EstimatorTest, TheHostHasNoCudaTerms) {
  EstimateOptions o;
  o.batch = 4;
  auto gpu = EstimatePath(dir_, o);
  o.gpu = kHostDevice;
  auto host = EstimatePath(dir_, o);
  ASSERT_TRUE(gpu.ok() && host.ok()) << host.status().ToString();
  // The model and its forward pass are the same on either device...
  EXPECT_EQ(host->weights_bytes, gpu->weights_bytes);
  EXPECT_EQ(host->activation_bytes, gpu->activation_bytes);
  EXPECT_EQ(host->kv_cache_bytes, gpu->kv_cache_bytes);
  // ...but the host has no cuBLAS workspace, no caching allocator and no CUDA context.
  EXPECT_TRUE(host->host);
  EXPECT_EQ(host->gpu, "cpu");
  EXPECT_EQ(host->cublas_workspace_bytes, 0u);
  EXPECT_EQ(host->cudnn_workspace_bytes, 0u);
  EXPECT_EQ(host->allocator_slack_bytes, 0u);
  EXPECT_EQ(host->workspace_bytes, 0u);
  EXPECT_EQ(host->context_bytes, kHostWorkerContextBytes);
  EXPECT_EQ(host->total_bytes, host->weights_bytes + host->activation_bytes + host->kv_cache_bytes +
                                   host->context_bytes);
  EXPECT_EQ(EstimateToJson(*host)["device"], "cpu");
  o.gpu = "CPU";
  auto upper = EstimatePath(dir_, o);
  ASSERT_TRUE(upper.ok());
  EXPECT_TRUE(upper->host);
  EXPECT_EQ(upper->total_bytes, host->total_bytes);
  // The GPU keeps its CUDA terms.
  EXPECT_FALSE(gpu->host);
  EXPECT_EQ(gpu->cublas_workspace_bytes, FindGpu("H100-80GB")->cublas_workspace_bytes);
  EXPECT_GT(gpu->allocator_slack_bytes, 0u);
  EXPECT_EQ(EstimateToJson(*gpu)["device"], "cuda");
}

TEST_F(EstimatorTest, RejectsBadOptions) {
  EstimateOptions o;
  o.batch = 0;
  EXPECT_EQ(EstimatePath(dir_, o).status().code(), StatusCode::kInvalidArgument);
  o.batch = 1;
  o.sequence = 100000;  // beyond max_position_embeddings
  EXPECT_EQ(EstimatePath(dir_, o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EstimatePath(dir_ + "/nope", {}).status().code(), StatusCode::kNotFound);
}

TEST_F(EstimatorTest, JsonHasIntegerByteFieldsThatSum) {
  auto e = EstimatePath(dir_, {});
  ASSERT_TRUE(e.ok());
  auto j = EstimateToJson(*e);
  uint64_t sum = 0;
  for (const char* k : {"weights_bytes", "activation_bytes", "kv_cache_bytes", "workspace_bytes",
                        "context_bytes"}) {
    ASSERT_TRUE(j[k].is_number_unsigned()) << k;
    sum += j[k].get<uint64_t>();
  }
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(), sum);
  EXPECT_TRUE(j["assumptions"].is_array());
  EXPECT_FALSE(j["assumptions"].empty());
  EXPECT_EQ(j["parameters"].get<uint64_t>(), e->parameters);
}

TEST(TransformerTrace, DecoderPeakHoldsKvCacheAndLogits) {
  TransformerConfig c;
  c.model_type = "gpt2";
  c.kind = TransformerKind::kDecoder;
  c.hidden_size = 768;
  c.num_layers = 12;
  c.num_heads = c.num_kv_heads = 12;
  c.head_dim = 64;
  c.intermediate_size = 3072;
  c.vocab_size = 50257;
  TransformerTraceOptions o;
  o.batch = 1;
  o.sequence = 128;
  auto r = BuildTransformerTrace(c, o);
  EXPECT_EQ(r.kv_cache_bytes, 2ull * 12 * 128 * 768 * 4);
  EXPECT_EQ(r.logits_bytes, 128ull * 50257 * 4);
  // Measured on an H200 (GPT-2, fp32, batch 1, 128 tokens): 35,561,984 bytes peak.
  const double peak = static_cast<double>(r.trace.PeakLiveBytes());
  EXPECT_NEAR(peak / 35561984.0, 1.0, 0.05);
}

TEST(TransformerTrace, EncoderHasNoKvCache) {
  TransformerConfig c;
  c.model_type = "bert";
  c.kind = TransformerKind::kEncoder;
  c.has_lm_head = false;
  c.hidden_size = 768;
  c.num_layers = 12;
  c.num_heads = c.num_kv_heads = 12;
  c.head_dim = 64;
  c.intermediate_size = 3072;
  c.vocab_size = 30522;
  TransformerTraceOptions o;
  o.batch = 32;
  auto r = BuildTransformerTrace(c, o);
  EXPECT_EQ(r.kv_cache_bytes, 0u);
  // Measured on an H200 (BERT-base, fp32, batch 32, 128 tokens): 138,412,032 bytes.
  EXPECT_NEAR(static_cast<double>(r.trace.PeakLiveBytes()) / 138412032.0, 1.0, 0.05);
  // last_hidden_state and the pooled output are returned.
  EXPECT_EQ(r.trace.LiveBytesAtEnd(), 32ull * 128 * 768 * 4 + 32ull * 768 * 4);
}

}  // namespace
}  // namespace modelgrid
