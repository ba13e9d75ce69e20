// Table tests of the Reconciler's pure policy (serve/reconcile_diff.h).
#include <gtest/gtest.h>

#include "serve/reconcile_diff.h"

namespace modelgrid {
namespace {

using Signatures = std::map<std::string, std::string>;

TEST(ServeReconcileDiff, Repository) {
  struct Case {
    const char* what;
    Signatures repository, live, failed;
    RepositoryDiff want;
  };
  const Case cases[] = {
      {"nothing anywhere", {}, {}, {}, {}},
      {"a new folder loads", {{"a", "s1"}}, {}, {}, {{"a"}, {}}},
      {"an unchanged model stays", {{"a", "s1"}}, {{"a", "s1"}}, {}, {}},
      {"a changed model reloads", {{"a", "s2"}}, {{"a", "s1"}}, {}, {{"a"}, {}}},
      {"a removed folder unloads", {}, {{"a", "s1"}}, {}, {{}, {"a"}}},
      {"a folder that failed is not retried unchanged", {{"a", "s1"}}, {}, {{"a", "s1"}}, {}},
      {"a folder that failed is retried once changed",
       {{"a", "s2"}},
       {},
       {{"a", "s1"}},
       {{"a"}, {}}},
      {"an unreadable folder is tried once", {{"a", ""}}, {}, {}, {{"a"}, {}}},
      {"an unreadable folder that failed waits", {{"a", ""}}, {}, {{"a", ""}}, {}},
      {"a loaded model whose new files failed keeps serving",
       {{"a", "s2"}},
       {{"a", "s1"}},
       {{"a", "s2"}},
       {}},
      {"all at once, in name order",
       {{"b", "s1"}, {"c", "s9"}, {"d", "s1"}},
       {{"a", "s1"}, {"c", "s1"}, {"d", "s1"}},
       {},
       {{"b", "c"}, {"a"}}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DiffRepository(c.repository, c.live, c.failed), c.want) << c.what;
  }
}

TEST(ServeReconcileDiff, Placement) {
  using Wanted = std::map<std::string, std::multiset<int>>;
  using Live = std::map<std::string, std::vector<int>>;
  struct Case {
    const char* what;
    Wanted wanted;
    Live live;
    std::vector<InstanceMove> want;
  };
  const Case cases[] = {
      {"nothing", {}, {}, {}},
      {"already where wanted", {{"a", {0}}}, {{"a", {0}}}, {}},
      {"one instance moves", {{"a", {1}}}, {{"a", {0}}}, {{"a", 0, 0, 1}}},
      {"replicas: the one in place stays", {{"a", {0, 2}}}, {{"a", {0, 1}}}, {{"a", 1, 1, 2}}},
      {"replicas swapped stay", {{"a", {0, 1}}}, {{"a", {1, 0}}}, {}},
      {"two instances move in order",
       {{"a", {2, 3}}},
       {{"a", {0, 1}}},
       {{"a", 0, 0, 2}, {"a", 1, 1, 3}}},
      {"a model the plan does not place stays", {}, {{"a", {0}}}, {}},
      {"a wanted model that is not live is not a move", {{"a", {1}}}, {}, {}},
      {"fewer wanted devices than instances: the rest stay",
       {{"a", {1}}},
       {{"a", {0, 2}}},
       {{"a", 0, 0, 1}}},
      {"several models", {{"a", {1}}, {"b", {0}}}, {{"a", {0}}, {"b", {0}}}, {{"a", 0, 0, 1}}},
  };
  for (const Case& c : cases) EXPECT_EQ(DiffPlacement(c.wanted, c.live), c.want) << c.what;
}

TEST(ServeReconcileDiff, PlanGpusMapToTheDevicesThatHoldTheirBytes) {
  std::vector<Device> devices(2);
  devices[0].index = 0;
  devices[1].index = 1;
  devices[0].capacity_bytes = devices[1].capacity_bytes = 100;
  Plan plan;
  plan.gpus.resize(2);
  plan.gpus[0].index = 0;
  plan.gpus[1].index = 1;
  plan.gpus[0].capacity_bytes = plan.gpus[1].capacity_bytes = 100;
  PlannedWorker w0, w1;
  w0.models = {"a", "b"};
  w0.model_bytes = {10, 10};
  w1.models = {"c"};
  w1.model_bytes = {5};
  plan.gpus[0].workers = {w0};
  plan.gpus[1].workers = {w1};
  // a and b live on device 1, c on device 0: the plan's GPUs swap, nothing moves.
  const std::map<std::string, int> live = {{"a", 1}, {"b", 1}, {"c", 0}};
  const std::map<int, int> want = {{0, 1}, {1, 0}};
  EXPECT_EQ(MatchPlanGpus(plan, live, devices), want);
  // A GPU of a capacity no device has keeps its own index.
  plan.gpus[1].capacity_bytes = 50;
  EXPECT_EQ(MatchPlanGpus(plan, live, devices).at(1), 1);
}

}  // namespace
}  // namespace modelgrid
