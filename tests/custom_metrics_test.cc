// Models' custom metrics on /metrics: merged across workers, untrusted input checked.
#include <gtest/gtest.h>

#include "serve/custom_metrics.h"

namespace modelgrid {
namespace {

std::string Render(const std::vector<std::string>& reports, size_t* skipped = nullptr) {
  server::PrometheusWriter w;
  const size_t n = WriteCustomMetrics(reports, w);
  if (skipped != nullptr) *skipped = n;
  return w.Take();
}

TEST(CustomMetrics, FamiliesMergeAndTheSameSeriesAddsUp) {
  const std::string a = R"([{"name": "tokens_total", "help": "Tokens made", "type": "counter",
      "samples": [{"labels": {"model": "llm"}, "value": 5},
                  {"labels": {"model": "tiny"}, "value": 1}]},
     {"name": "queue_depth", "help": "Waiting", "type": "gauge",
      "samples": [{"labels": {}, "value": 2.5}]}])";
  const std::string b = R"([{"name": "tokens_total", "help": "other help", "type": "counter",
      "samples": [{"labels": {"model": "llm"}, "value": 7}]}])";
  size_t skipped = 1;
  const std::string text = Render({a, b, ""}, &skipped);
  EXPECT_EQ(skipped, 0u);
  EXPECT_NE(text.find("# TYPE tokens_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP tokens_total Tokens made\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tokens_total{model=\"llm\"} 12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tokens_total{model=\"tiny\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("queue_depth 2.5\n"), std::string::npos) << text;
}

TEST(CustomMetrics, WhatAWorkerMustNotReportIsSkipped) {
  const std::vector<std::string> bad = {
      "not json",
      R"({"name": "x"})",
      R"([{"name": "nv_inference_count", "help": "", "type": "counter", "samples": []}])",
      R"([{"name": "modelgrid_model_ready", "help": "", "type": "gauge", "samples": []}])",
      R"([{"name": "h", "help": "", "type": "histogram", "samples": []}])",
      R"([{"name": "bad name", "help": "", "type": "gauge", "samples": []}])",
      R"([{"name": "g", "help": "", "type": "gauge", "samples": [{"labels": {}, "value": "1"}]}])",
      R"([{"name": "g2", "help": "", "type": "gauge", "samples": [{"labels": {"a": 1}, "value": 1}]}])",
      std::string("[") + std::string(kMaxCustomMetricsBytes, ' ') + "]",
  };
  size_t skipped = 0;
  const std::string text = Render(bad, &skipped);
  EXPECT_EQ(skipped, bad.size());
  EXPECT_EQ(text.find("nv_inference_count"), std::string::npos) << text;
  EXPECT_EQ(text.find("modelgrid_model_ready"), std::string::npos) << text;
  EXPECT_EQ(text.find("histogram"), std::string::npos) << text;
  // A family whose type disagrees with the first report of its name is skipped too.
  const std::string first = R"([{"name": "m", "help": "", "type": "gauge",
      "samples": [{"labels": {}, "value": 1}]}])";
  const std::string other = R"([{"name": "m", "help": "", "type": "counter",
      "samples": [{"labels": {}, "value": 1}]}])";
  EXPECT_NE(Render({first, other}, &skipped).find("m 1\n"), std::string::npos);
  EXPECT_EQ(skipped, 1u);
}

}  // namespace
}  // namespace modelgrid
