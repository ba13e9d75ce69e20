// perf's model picker: round-robin and Zipf spreads of requests over models.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "perf/model_picker.h"

namespace modelgrid::perf {
namespace {

TEST(PerfDistribution, ParsesRoundRobinAndZipfAndRejectsTheRest) {
  auto rr = ParseDistribution("round-robin");
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->zipf_s, 0);
  EXPECT_EQ(rr->Name(), "round-robin");
  auto zipf = ParseDistribution("zipf:1.2");
  ASSERT_TRUE(zipf.ok()) << zipf.status().ToString();
  EXPECT_DOUBLE_EQ(zipf->zipf_s, 1.2);
  EXPECT_EQ(zipf->Name(), "zipf:1.2");
  for (const char* bad :
       {"", "zipf", "zipf:", "zipf:0", "zipf:-1", "zipf:11", "zipf:1x", "uniform", "ZIPF:1"}) {
    auto r = ParseDistribution(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--distribution"), std::string::npos);
  }
}

TEST(PerfDistribution, RoundRobinVisitsEveryModelInTurn) {
  const ModelPicker picker(3, ModelDistribution{});
  for (uint64_t seq = 0; seq < 9; ++seq) EXPECT_EQ(picker.Pick(seq), seq % 3);
  EXPECT_DOUBLE_EQ(picker.Share(1), 1.0 / 3);
}

TEST(PerfDistribution, ZipfSharesFollowOneOverKToTheS) {
  const size_t n = 30;
  const double s = 1.1;
  const ModelPicker picker(n, ModelDistribution{s});
  double norm = 0;
  for (size_t k = 1; k <= n; ++k) norm += 1 / std::pow(static_cast<double>(k), s);
  double shares = 0;
  for (size_t k = 0; k < n; ++k) {
    EXPECT_NEAR(picker.Share(k), 1 / std::pow(static_cast<double>(k + 1), s) / norm, 1e-12);
    shares += picker.Share(k);
  }
  EXPECT_NEAR(shares, 1.0, 1e-12);
  // The picks (deterministic in the sequence number) match the shares: 200k draws put each
  // model within 5 standard deviations of its expected count, and every model is drawn.
  const uint64_t draws = 200'000;
  std::vector<uint64_t> counts(n, 0);
  for (uint64_t seq = 0; seq < draws; ++seq) {
    const size_t m = picker.Pick(seq);
    ASSERT_LT(m, n);
    ++counts[m];
  }
  for (size_t k = 0; k < n; ++k) {
    const double expected = picker.Share(k) * static_cast<double>(draws);
    const double sigma = std::sqrt(expected * (1 - picker.Share(k)));
    EXPECT_NEAR(static_cast<double>(counts[k]), expected, 5 * sigma) << "model " << k;
    EXPECT_GT(counts[k], 0u) << "model " << k;
  }
  EXPECT_GT(counts[0], 5 * counts[n - 1]);  // skewed: the head is far more popular
  // Reproducible: the same sequence numbers pick the same models.
  const ModelPicker again(n, ModelDistribution{s});
  for (uint64_t seq = 0; seq < 1000; ++seq) EXPECT_EQ(again.Pick(seq), picker.Pick(seq));
}

TEST(PerfDistribution, OneModelTakesEverything) {
  const ModelPicker picker(1, ModelDistribution{2});
  for (uint64_t seq = 0; seq < 100; ++seq) EXPECT_EQ(picker.Pick(seq), 0u);
  EXPECT_DOUBLE_EQ(picker.Share(0), 1.0);
}

}  // namespace
}  // namespace modelgrid::perf
