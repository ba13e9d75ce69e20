// The estimator against measured H200 footprints (data/h200-torch-footprints.json):
// total_bytes - context_bytes must land within ±15% of peak_reserved for at least 90% of
// the 48 cases (4 text models as HF folders + 4 vision models as ONNX, and again with the
// vision models as TorchScript when LibTorch is in the build) and never more than 10%
// below it. Prints the whole error table, and the same
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
  return std::string(MODELGRID_SOURCE_DIR) + "/data/h200-torch-footprints.json";
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

struct Summary {
  int cases = 0, within = 0, under = 0;
};

// Prints the table of one path and returns its counts.
Summary PrintTable(const std::string& title, const std::vector<Row>& rows) {
  std::printf("\n%s\n%-20s %-12s %-6s %5s %11s %11s %8s %13s %8s\n", title.c_str(), "model", "path",
              "dtype", "batch", "measured", "predicted", "error", "rule-of-thumb", "error");
  Summary s;
  std::vector<double> errors, baseline_errors;
  int baseline_under = 0;
  for (const auto& r : rows) {
    std::printf("%-20s %-12s %-6s %5d %9.1fMi %9.1fMi %+7.1f%% %11.1fMi %+7.1f%%\n",
                r.model.c_str(), r.path_kind.c_str(), r.dtype.c_str(), r.batch,
                r.measured / 1048576, r.predicted / 1048576, 100 * r.Error(), r.baseline / 1048576,
                100 * r.BaselineError());
    s.cases += 1;
    s.within += std::fabs(r.Error()) <= 0.15;
    s.under += r.Error() < -0.10;
    baseline_under += r.BaselineError() < 0;
    errors.push_back(std::fabs(r.Error()));
    baseline_errors.push_back(std::fabs(r.BaselineError()));
  }
  std::printf(
      "%d cases: %d within ±15%%, %d more than 10%% under, median |error| %.1f%%; "
      "rule of thumb: median |error| %.1f%%, %d under\n",
      s.cases, s.within, s.under, 100 * Median(errors), 100 * Median(baseline_errors),
      baseline_under);
  return s;
}

// All 24 rows of one path (8 architectures x 2 dtypes x 3 batches, 12 per path family);
// an empty vector when a fixture is missing or the path is not in this build.
std::vector<Row> Collect(const std::string& kind, const nlohmann::json& data, std::string* why) {
  std::vector<Row> rows;
  for (const auto& m : data["models"]) {
    const std::string name = m["model"];
    const bool text = m["kind"] != "cv";
    if (text != (kind == "hf")) continue;
    const std::string path = FixtureFor(name, kind);
    if (path.empty()) {
      *why = "fixture for " + name + " (" + kind + ") is missing; run scripts/make-fixtures.sh";
      return {};
    }
    const std::string dtype = m["dtype"] == "float16" ? "fp16" : "fp32";
    for (const auto& [batch, v] : m["batches"].items()) {
      EstimateOptions options;
      options.batch = std::stoi(batch);
      options.sequence = 128;
      options.dtype = dtype == "fp16" ? ComputeDType::kFp16 : ComputeDType::kFp32;
      options.gpu = "H200";
      auto e = EstimatePath(path, options);
      if (!e.ok()) {
        *why = name + ": " + e.status().ToString();
        return {};
      }
      Row r;
      r.model = name;
      r.path_kind = kind;
      r.dtype = dtype;
      r.batch = std::stoi(batch);
      r.measured = v["peak_reserved"].get<double>();
      r.predicted = static_cast<double>(e->total_bytes - e->context_bytes);
      const double dtype_bytes = dtype == "fp16" ? 2 : 4;
      r.baseline =
          static_cast<double>(m["params"].get<int64_t>()) * dtype_bytes * (text ? 1.5 : 1.2 * 1.1);
      rows.push_back(r);
    }
  }
  return rows;
}

// The 48 measured cases are the 4 text models (HF folders) and the 4 vision models; the
// vision models are checked once through their ONNX export and once through TorchScript.
TEST(Accuracy, MatchesMeasuredH200Footprints) {
  std::ifstream in(DataPath());
  if (!in) GTEST_SKIP() << "SKIPPED: measured data not found at " << DataPath();
  const nlohmann::json data = nlohmann::json::parse(in);
  std::string why;
  const std::vector<Row> hf = Collect("hf", data, &why);
  ASSERT_FALSE(hf.empty()) << why;
  const Summary text = PrintTable("Estimator vs measured H200 peak_reserved: HuggingFace", hf);
  EXPECT_EQ(text.under, 0);
  bool checked_vision = false;
  for (const char* kind : {"onnx", "torchscript"}) {
    why.clear();
    const std::vector<Row> cv = Collect(kind, data, &why);
    if (cv.empty()) {
      std::printf("\n*** SKIPPED %s accuracy: %s ***\n", kind, why.c_str());
      if (std::string(kind) == "onnx") ADD_FAILURE() << why;
      continue;
    }
    checked_vision = true;
    const Summary vision =
        PrintTable(std::string("Estimator vs measured H200 peak_reserved: ") + kind, cv);
    EXPECT_EQ(vision.under, 0) << kind;
    const int cases = text.cases + vision.cases;
    const int within = text.within + vision.within;
    std::printf("48 cases via %s: %d within ±15%% (%.0f%%)\n", kind, within,
                100.0 * within / cases);
    EXPECT_GE(within * 10, cases * 9) << kind;
  }
  EXPECT_TRUE(checked_vision);
}

}  // namespace
}  // namespace modelgrid
