// A console reporter that also remembers every run's adjusted real time (in the run's own
// time unit), so a benchmark can print ratios against a baseline measured in the same run.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace modelgrid::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // `print_ratios` runs once after the console table, with this reporter to query.
  explicit RatioReporter(std::function<void(const RatioReporter&)> print_ratios)
      : print_ratios_(std::move(print_ratios)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) times_[r.benchmark_name()] = r.GetAdjustedRealTime();
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    print_ratios_(*this);
  }

  // True when `name` ran and took a positive time.
  bool Has(const std::string& name) const {
    auto it = times_.find(name);
    return it != times_.end() && it->second > 0;
  }
  // The adjusted real time of `name`, 0 when it did not run.
  double Time(const std::string& name) const {
    auto it = times_.find(name);
    return it == times_.end() ? 0 : it->second;
  }

 private:
  std::function<void(const RatioReporter&)> print_ratios_;
  std::map<std::string, double> times_;
};

}  // namespace modelgrid::bench
