// Prometheus text exposition format (version 0.0.4): a writer for /metrics and a parser
// that reads it back (for tests and for scraping workers).
//
//   PrometheusWriter w;
//   w.Family("modelgrid_requests_total", "counter", "Inference requests served.");
//   w.Sample("modelgrid_requests_total", {{"model", "resnet50"}, {"code", "200"}}, 42);
//   std::string body = w.Take();  // serve as "text/plain; version=0.0.4"
//
//   auto samples = ParsePrometheusText(body);
//   FindSample(*samples, "modelgrid_requests_total", {{"model", "resnet50"}});  // 42
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelgrid::server {

// Label name/value pairs in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds one exposition. Not thread-safe; build a fresh writer per scrape.
class PrometheusWriter {
 public:
  // Writes "# HELP name help" and "# TYPE name type" once per family name; later calls
  // with the same name write nothing. `type` is counter, gauge, histogram, summary or
  // untyped. Call before the family's samples. An invalid name or type is a programming
  // error: nothing is written and dropped() grows.
  void Family(std::string_view name, std::string_view type, std::string_view help);

  // Writes `name{labels} value`. Label values may hold any bytes (escaped here). An
  // invalid metric or label name, or a label name repeated, drops the sample and grows
  // dropped(). Integral values below 2^53 print without decimals; NaN, +Inf and -Inf as
  // Prometheus spells them.
  void Sample(std::string_view name, const Labels& labels, double value);

  // Returns the text written so far and resets the writer (families are forgotten);
  // dropped() is kept.
  std::string Take();

  // Families and samples rejected for invalid names since construction.
  uint64_t dropped() const { return dropped_; }

 private:
  std::string out_;
  std::unordered_set<std::string> families_;
  uint64_t dropped_ = 0;
};

// Formats a sample value as the exposition writes it ("42", "0.5", "NaN", "+Inf").
std::string FormatPrometheusValue(double value);

// True when `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(std::string_view name);
// True when `name` matches [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidLabelName(std::string_view name);

struct PrometheusSample {
  std::string name;
  Labels labels;  // unescaped, in text order
  double value = 0;
};

// Parses exposition text: blank lines and '#' lines (HELP, TYPE, comments) are skipped,
// label values unescaped, an optional integer timestamp ignored. kInvalidArgument naming
// the 1-based line number on the first malformed line.
Result<std::vector<PrometheusSample>> ParsePrometheusText(std::string_view text);

// The value of the first sample called `name` whose labels include every pair of
// `subset` (in any order); nullopt when none does.
std::optional<double> FindSample(const std::vector<PrometheusSample>& samples,
                                 std::string_view name, const Labels& subset = {});

}  // namespace modelgrid::server
