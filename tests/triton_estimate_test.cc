// A Triton model directory: config.pbtxt supplies the default batch and input shapes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "estimate/estimator.h"
#include "plan/manifest.h"
#include "support/fixtures.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;

TEST(TritonEstimate, MaxBatchSizeIsTheDefaultBatch) {
  MG_REQUIRE_FIXTURE(onnx, "cv/resnet18.onnx");
  const fs::path dir = fs::temp_directory_path() / ("mg_triton_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "1");
  fs::copy_file(onnx, dir / "1" / "model.onnx");
  std::ofstream(dir / "config.pbtxt") << R"(name: "resnet18"
platform: "onnxruntime_onnx"
max_batch_size: 16
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 1000 ] } ]
)";
  auto e = EstimatePath(dir.string(), {});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->batch, 16);
  EXPECT_EQ(e->format, "onnx");
  EstimateOptions o;
  o.batch = 1;
  auto one = EstimatePath(dir.string(), o);
  ASSERT_TRUE(one.ok());
  EXPECT_GT(e->activation_bytes, 8 * one->activation_bytes);
  EXPECT_EQ(e->weights_bytes, one->weights_bytes);

  fs::remove(dir / "1" / "model.onnx");
  auto missing = EstimatePath(dir.string(), {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  std::ofstream(dir / "config.pbtxt") << "max_batch_size: -4\n";
  EXPECT_FALSE(EstimatePath(dir.string(), {}).ok());
  fs::remove_all(dir);
}

// A Triton model in fp16 (TYPE_FP16 inputs, half weights): the dry run is fed the declared
// types and, the CPU having no float16 kernels, runs converted to float32 and says so.
TEST(TritonEstimate, Fp16ModelsAreEstimated) {
  MG_REQUIRE_FIXTURE(dir, "half/triton/transformer.fp16");
  auto e = EstimatePath(dir, {});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->dtype, ComputeDType::kFp16);
  EXPECT_TRUE(e->weights_as_stored);
  bool said = false;
  for (const auto& a : e->assumptions) {
    said = said || a.find("ran converted to float32") != std::string::npos;
  }
  EXPECT_TRUE(said);
  // Weightless models take their dtype from the declared inputs.
  MG_REQUIRE_FIXTURE(add_one, "half/triton/add_one.fp16");
  auto weightless = EstimatePath(add_one, {});
  ASSERT_TRUE(weightless.ok()) << weightless.status().ToString();
  EXPECT_EQ(weightless->dtype, ComputeDType::kFp16);
}

TEST(TritonEstimate, InputsTheDryRunCannotMakeAreRefusedByName) {
  MG_REQUIRE_FIXTURE(model, "serve/add_one.pt");
  const fs::path dir = fs::temp_directory_path() / ("mg_triton_str_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "1");
  fs::copy_file(model, dir / "1" / "model.pt");
  std::ofstream(dir / "config.pbtxt") << R"(name: "text"
platform: "pytorch_libtorch"
max_batch_size: 2
input [ { name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] } ]
)";
  auto e = EstimatePath(dir.string(), {});
  fs::remove_all(dir);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(e.status().message().find("'TEXT' is TYPE_STRING"), std::string::npos)
      << e.status().ToString();
}

// Estimates are for their device: the host has no cuBLAS workspace or caching allocator,
// and serve --gpus cpu plans with those estimates (ManifestOptions.gpu = "cpu").
TEST(TritonEstimate, TheCpuGetsNoCudaTerms) {
  MG_REQUIRE_FIXTURE(dir, "repo/transformer");
  auto gpu = EstimatePath(dir, {});
  EstimateOptions o;
  o.gpu = kHostDevice;
  auto cpu = EstimatePath(dir, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->cublas_workspace_bytes, 0u);
  EXPECT_EQ(cpu->workspace_bytes, 0u);
  EXPECT_EQ(cpu->weights_bytes, gpu->weights_bytes);
  // On the host the inputs (batch 4 x [16, 64] floats) are live through the forward: the
  // worker's CPU cap counts them.
  EXPECT_EQ(cpu->activation_bytes, gpu->activation_bytes + 4 * 16 * 64 * 4);
  EXPECT_EQ(cpu->total_bytes - cpu->context_bytes, cpu->weights_bytes + cpu->activation_bytes);
  EXPECT_EQ(gpu->cublas_workspace_bytes, uint64_t{32} << 20);  // H100's
  EXPECT_GE(gpu->workspace_bytes, gpu->cublas_workspace_bytes);

  ManifestOptions host;
  host.gpu = kHostDevice;
  auto planned = LoadTritonModel(dir, host);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  EXPECT_EQ(planned->footprint_bytes, cpu->weights_bytes + cpu->activation_bytes);
  EXPECT_LT(planned->footprint_bytes, uint64_t{1} << 20);  // was 34 MiB with cuBLAS's 32
  auto on_gpu = LoadTritonModel(dir, {});
  ASSERT_TRUE(on_gpu.ok());
  EXPECT_EQ(on_gpu->footprint_bytes, gpu->total_bytes - gpu->context_bytes);
}

}  // namespace
}  // namespace modelgrid
