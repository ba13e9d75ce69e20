// Which model each request of `modelgrid perf` goes to: round-robin over the models (the
// default), or a Zipf distribution over them (--distribution zipf:S), the skew of real
// fleets' long tails, where the k-th model (in the order given, or --all-models' order) is
// requested in proportion to 1 / k^S.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelgrid::perf {

struct ModelDistribution {
  double zipf_s = 0;         // 0: round-robin; else Zipf's exponent S (> 0)
  std::string Name() const;  // "round-robin" or "zipf:S"
};

// "round-robin" or "zipf:S" with 0 < S <= 10; kInvalidArgument naming the text otherwise.
Result<ModelDistribution> ParseDistribution(const std::string& text);

// Picks a model for each request sequence number. Deterministic: the same sequence
// numbers give the same models (a Zipf pick hashes the number into a uniform draw), so runs
// are reproducible whatever the threads' interleaving. Thread-safe (read-only).
class ModelPicker {
 public:
  ModelPicker(size_t models, const ModelDistribution& distribution);
  // The model of request `seq`, in [0, models).
  size_t Pick(uint64_t seq) const;
  // The share of requests model `m` gets (1/models for round-robin).
  double Share(size_t m) const;

 private:
  size_t models_;
  std::vector<double> cdf_;  // Zipf: cumulative shares; empty for round-robin
};

}  // namespace modelgrid::perf
