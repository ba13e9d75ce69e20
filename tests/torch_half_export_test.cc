// The differential test of half-precision exports: every fixture model exported in fp16
// (and bf16 where it is TorchScript) must be estimated like its fp32 export estimated with
// --dtype fp16 (bf16), within 2%. The pairs come from scripts/fixtures/make_half_fixtures.py
// (half/pairs.json): torchvision models as TorchScript and ONNX, the serve models as Triton
// directories whose config.pbtxt declares TYPE_FP16/TYPE_BF16 inputs, and the HuggingFace
// folders. TorchScript pairs run their dry runs in the sandboxed worker (installed for this
// binary by dry_run_sandbox_test.cc), as `modelgrid estimate` does.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "estimate/estimator.h"
#include "support/fixtures.h"

namespace modelgrid {
namespace {

constexpr double kTolerance = 0.02;

double RelativeDifference(uint64_t a, uint64_t b) {
  return std::fabs(static_cast<double>(a) - static_cast<double>(b)) / static_cast<double>(b);
}

TEST(TorchHalfExports, EstimateLikeTheFp32ExportAtTheirDtype) {
  MG_REQUIRE_FIXTURE(pairs_path, "half/pairs.json");
  std::ifstream in(pairs_path);
  const nlohmann::json pairs = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(pairs.is_array() && !pairs.empty()) << pairs_path;
  std::printf("%-24s %-5s %5s %12s %12s %12s %12s %8s\n", "model", "dtype", "batch", "half weights",
              "fp32 weights", "half total", "fp32 total", "diff");
  int compared = 0;
  for (const auto& pair : pairs) {
    const std::string name = pair["name"], dtype = pair["dtype"];
    const std::string half_path = testing::FixturesDir() + "/" + pair["half"].get<std::string>();
    const std::string fp32_path = testing::FixturesDir() + "/" + pair["fp32"].get<std::string>();
    const bool plain_torchscript = half_path.ends_with(".pt");
    // Plain TorchScript files default to batch 1; batch 8 also checks the extrapolation.
    std::vector<std::optional<int64_t>> batches = {std::nullopt};
    if (plain_torchscript) batches.push_back(8);
    for (const auto& batch : batches) {
      EstimateOptions half_options;
      half_options.batch = batch;
      EstimateOptions fp32_options = half_options;
      fp32_options.dtype = *ParseComputeDType(dtype);
      auto half = EstimatePath(half_path, half_options);
      auto fp32 = EstimatePath(fp32_path, fp32_options);
#ifndef MODELGRID_HAVE_TORCH
      if (half.status().code() == StatusCode::kUnsupported) {
        std::printf("%-24s %-5s skipped: no LibTorch dry runner in this build\n", name.c_str(),
                    dtype.c_str());
        continue;
      }
#endif
      ASSERT_TRUE(half.ok()) << half_path << ": " << half.status().ToString();
      ASSERT_TRUE(fp32.ok()) << fp32_path << ": " << fp32.status().ToString();
      const uint64_t half_footprint = half->total_bytes - half->context_bytes;
      const uint64_t fp32_footprint = fp32->total_bytes - fp32->context_bytes;
      const double diff = RelativeDifference(half->total_bytes, fp32->total_bytes);
      std::printf("%-24s %-5s %5lld %12llu %12llu %12llu %12llu %+7.3f%%\n", name.c_str(),
                  dtype.c_str(), static_cast<long long>(half->batch),
                  static_cast<unsigned long long>(half->weights_bytes),
                  static_cast<unsigned long long>(fp32->weights_bytes),
                  static_cast<unsigned long long>(half->total_bytes),
                  static_cast<unsigned long long>(fp32->total_bytes),
                  100 * (static_cast<double>(half->total_bytes) - fp32->total_bytes) /
                      static_cast<double>(fp32->total_bytes));
      EXPECT_EQ(std::string(ComputeDTypeName(half->dtype)), dtype) << half_path;
      EXPECT_EQ(half->batch, fp32->batch) << half_path;
      EXPECT_EQ(half->weights_bytes, fp32->weights_bytes) << half_path;
      EXPECT_LE(diff, kTolerance) << half_path;
      EXPECT_LE(RelativeDifference(half_footprint, fp32_footprint), kTolerance) << half_path;
      EXPECT_LE(RelativeDifference(half->activation_bytes + half->kv_cache_bytes,
                                   fp32->activation_bytes + fp32->kv_cache_bytes),
                kTolerance)
          << half_path;
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

}  // namespace
}  // namespace modelgrid
