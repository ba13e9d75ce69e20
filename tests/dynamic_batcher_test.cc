#include "serve/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

namespace modelgrid {
namespace {

struct Item {
  int64_t batch = 1;
  int id = 0;
};

TEST(DynamicBatcher, GroupsUpToThePreferredSizeAndNeverAboveTheMaximum) {
  std::mutex mu;
  std::vector<std::vector<int>> groups;
  std::vector<int64_t> sizes;
  {
    // A long delay: only the preferred size (or the destructor) dispatches.
    DynamicBatcher<Item> batcher({8, {4}, 10'000'000}, [&](std::vector<Item> g) {
      std::lock_guard<std::mutex> lock(mu);
      int64_t samples = 0;
      std::vector<int> ids;
      for (const auto& i : g) {
        samples += i.batch;
        ids.push_back(i.id);
      }
      sizes.push_back(samples);
      groups.push_back(ids);
    });
    for (int i = 0; i < 8; ++i) batcher.Submit({1, i});
    batcher.Submit({3, 8});
  }  // the destructor dispatches the last, partial group
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0], (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(groups[1], (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(groups[2], (std::vector<int>{8}));
  for (int64_t s : sizes) EXPECT_LE(s, 8);
}

TEST(DynamicBatcher, TheDelayDispatchesALoneRequest) {
  std::atomic<int> dispatched{0};
  DynamicBatcher<Item> batcher(
      {8, {}, 1000}, [&](std::vector<Item> g) { dispatched += static_cast<int>(g.size()); });
  batcher.Submit({1, 0});
  for (int i = 0; i < 2000 && dispatched == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // bounded hang guard
  }
  EXPECT_EQ(dispatched.load(), 1);
}

TEST(DynamicBatcher, AnOversizedRequestGoesAlone) {
  std::vector<size_t> group_sizes;
  std::mutex mu;
  {
    DynamicBatcher<Item> batcher({4, {}, 10'000'000}, [&](std::vector<Item> g) {
      std::lock_guard<std::mutex> lock(mu);
      group_sizes.push_back(g.size());
    });
    batcher.Submit({2, 0});
    batcher.Submit({4, 1});  // 6 samples queued: {2} goes, then {4}
  }
  EXPECT_EQ(group_sizes, (std::vector<size_t>{1, 1}));
}

}  // namespace
}  // namespace modelgrid
