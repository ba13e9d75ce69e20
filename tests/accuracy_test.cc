// The estimator against measured H200 footprints (shared/data/h200-torch-footprints.json):
// total_bytes - context_bytes must land within ±15% of peak_reserved for at least 90% of
// the cases and never more than 10% below it. Prints the whole error table, and the same
// table for the field's rule of thumb (parameters x dtype x 1.2 x 1.1, or x 1.5 for HF).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "estimate/estimator.h"
#include "support/fixtures.h"

namespace modelgrid {
namespace {

struct Row {
  std::string model, path_kind, dtype;
  int batch = 0;
  double predicted = 0, measured = 0, baseline = 0;
  double Error() const { return (predicted - measured) / measured; }
  double BaselineError() const { return (baseline - measured) / measured; }
};

std::string DataPath() {
  return std::string(MODELGRID_SOURCE_DIR) + "/../shared/data/h200-torch-footprints.json";
}

// The fixture of one architecture for one path kind ("hf", "torchscript", "onnx").
std::string FixtureFor(const std::string& model, const std::string& kind) {
  if (kind == "hf") return testing::Fixture("hf/" + model);
  if (kind == "torchscript") return testing::Fixture("cv/" + model + ".pt");
  return testing::Fixture("cv/" + model + ".onnx");
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void PrintAndCheck(const std::string& title, const std::vector<Row>& rows) {
  std::printf("\n%s\n%-20s %-12s %-8s %5s %12s %12s %8s %12s %8s\n", title.c_str(), "model",
              "path", "dtype", "batch", "measured", "predicted", "error", "rule-of-thumb",
              "error");
  int within = 0, under = 0, baseline_under = 0;
  std::vector<double> errors, baseline_errors;
  for (const auto& r : rows) {
    std::printf("%-20s %-12s %-8s %5d %10.1fMi %10.1fMi %+7.1f%% %10.1fMi %+7.1f%%\n",
                r.model.c_str(), r.path_kind.c_str(), r.dtype.c_str(), r.batch,
                r.measured / 1048576, r.predicted / 1048576, 100 * r.Error(),
                r.baseline / 1048576, 100 * r.BaselineError());
    within += std::fabs(r.Error()) <= 0.15;
    under += r.Error() < -0.10;
    baseline_under += r.BaselineError() < 0;
    errors.push_back(std::fabs(r.Error()));
    baseline_errors.push_back(std::fabs(r.BaselineError()));
  }
  std::printf("%zu cases: %d within ±15%% (%.0f%%), %d more than 10%% under; median |error| "
              "%.1f%%. Rule of thumb: median |error| %.1f%%, %d of %zu under.\n",
              rows.size(), within, 100.0 * within / rows.size(), under, 100 * Median(errors),
              100 * Median(baseline_errors), baseline_under, rows.size());
  EXPECT_GE(within, static_cast<int>(std::ceil(0.9 * rows.size()))) << title;
  EXPECT_EQ(under, 0) << title;
}

class AccuracyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AccuracyTest, MatchesMeasuredH200Footprints) {
  const std::string kind = GetParam();
  std::ifstream in(DataPath());
  if (!in) GTEST_SKIP() << "SKIPPED: measured data not found at " << DataPath();
  const nlohmann::json data = nlohmann::json::parse(in);
  std::vector<Row> rows;
  for (const auto& m : data["models"]) {
    const std::string name = m["model"];
    const bool text = m["kind"] != "cv";
    if (text != (kind == "hf")) continue;
    const std::string path = FixtureFor(name, kind);
    if (path.empty()) {
      GTEST_SKIP() << "SKIPPED: fixture for " << name << " (" << kind
                   << ") is missing; run scripts/test.sh to generate fixtures";
    }
    const std::string dtype = m["dtype"] == "float16" ? "fp16" : "fp32";
    for (const auto& [batch, v] : m["batches"].items()) {
      EstimateOptions options;
      options.batch = std::stoi(batch);
      options.sequence = 128;
      options.dtype = dtype == "fp16" ? ComputeDType::kFp16 : ComputeDType::kFp32;
      options.gpu = "H200";
      auto e = EstimatePath(path, options);
      ASSERT_TRUE(e.ok()) << name << ": " << e.status().ToString();
      Row r;
      r.model = name;
      r.path_kind = kind;
      r.dtype = dtype;
      r.batch = std::stoi(batch);
      r.measured = v["peak_reserved"].get<double>();
      r.predicted = static_cast<double>(e->total_bytes - e->context_bytes);
      const double dtype_bytes = dtype == "fp16" ? 2 : 4;
      r.baseline = static_cast<double>(m["params"].get<int64_t>()) * dtype_bytes *
                   (text ? 1.5 : 1.2 * 1.1);
      rows.push_back(r);
    }
  }
  PrintAndCheck("Estimator vs measured H200 peak_reserved (" + kind + ")", rows);
}

INSTANTIATE_TEST_SUITE_P(Paths, AccuracyTest,
                         ::testing::Values("hf", "onnx", "torchscript"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace modelgrid
