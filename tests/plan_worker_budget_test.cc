// The shared-worker budget rule (plan/worker_budget.h), which plan, admission and serve
// share: resident parts add up, only the largest transient part counts.
#include <gtest/gtest.h>

#include "plan/worker_budget.h"

namespace modelgrid {
namespace {

TEST(SharedWorkerBudgetTest, ResidentPartsAddAndTheLargestTransientCountsOnce) {
  SharedWorkerBudget b;
  EXPECT_EQ(b.bytes(), 0u);
  EXPECT_EQ(b.CostOf(100, 30), 100u);  // the first model pays its whole footprint
  b.Add(100, 30);
  EXPECT_EQ(b.bytes(), 100u);
  EXPECT_EQ(b.CostOf(50, 20), 30u);        // its transient fits in the one already there
  EXPECT_EQ(b.CostOf(50, 40), 10u + 10u);  // resident 10, and the transient grows by 10
  b.Add(50, 40);
  EXPECT_EQ(b.resident_bytes, 70u + 10u);
  EXPECT_EQ(b.largest_transient_bytes, 40u);
  EXPECT_EQ(b.bytes(), 120u);
  // A transient larger than the footprint is taken as the footprint.
  EXPECT_EQ(b.CostOf(10, 99), 0u);
  b.Add(10, 99);
  EXPECT_EQ(b.bytes(), 120u);
}

TEST(SharedWorkerBudgetTest, CostOfMatchesTheGrowthOfAdd) {
  const uint64_t models[][2] = {{500, 100}, {80, 80}, {300, 0}, {1000, 900}, {5, 7}};
  SharedWorkerBudget b;
  for (const auto& m : models) {
    const uint64_t before = b.bytes();
    const uint64_t cost = b.CostOf(m[0], m[1]);
    b.Add(m[0], m[1]);
    EXPECT_EQ(b.bytes() - before, cost) << m[0] << "/" << m[1];
  }
}

}  // namespace
}  // namespace modelgrid
