#include "serve/host_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "serve/grid_types.h"
#include "support/affinity.h"

namespace modelgrid {
namespace {

Device HostDevice(int index) {
  Device d;
  d.index = index;
  d.label = index == 0 ? "cpu" : "cpu" + std::to_string(index);
  return d;
}

Device Gpu(int index, int cuda) {
  Device d;
  d.index = index;
  d.label = "gpu" + std::to_string(index);
  d.runtime = "cuda:" + std::to_string(cuda);
  d.host = false;
  return d;
}

// Two nodes of four cores, of which 0-5 are online, and a node of memory without cores.
HostTopology TwoNodes() {
  HostTopology t;
  t.online_cpus = {0, 1, 2, 3, 4, 5};
  t.node_cpus = {{0, {0, 1, 2, 3}}, {1, {4, 5}}, {2, {}}};
  return t;
}

TEST(HostPolicy, CpuListsParseAsLinuxWritesThem) {
  struct Case {
    const char* text;
    std::vector<int> cpus;
  };
  for (const Case& c : {Case{"0", {0}}, Case{"0-3", {0, 1, 2, 3}}, Case{"3,1,1-2", {1, 2, 3}},
                        Case{"7,0-1,4095", {0, 1, 7, 4095}}}) {
    auto cpus = ParseCpuList(c.text);
    ASSERT_TRUE(cpus.ok()) << c.text << ": " << cpus.status().ToString();
    EXPECT_EQ(*cpus, c.cpus) << c.text;
  }
  for (const char* bad :
       {"", ",", "0,", ",0", "3-1", "a", "1-", "-1", "4096", "0-99999999999", "1 ", "0..3"}) {
    auto cpus = ParseCpuList(bad);
    EXPECT_EQ(cpus.status().code(), StatusCode::kInvalidArgument) << '"' << bad << '"';
  }
  EXPECT_EQ(FormatCpuList({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(FormatCpuList({5}), "5");
  EXPECT_EQ(*ParseCpuList(FormatCpuList({0, 2, 3, 4, 9})), (std::vector<int>{0, 2, 3, 4, 9}));
}

TEST(HostPolicy, FlagsParseOneSettingEachAndAddUpByName) {
  auto policies =
      ParseHostPolicies({"cpu,cpu-cores=0-1,4", "gpu_0,numa-node=1", "gpu_0,cpu-cores=6"});
  ASSERT_TRUE(policies.ok()) << policies.status().ToString();
  ASSERT_EQ(policies->size(), 2u);
  EXPECT_EQ(*policies->at("cpu").cpu_cores, (std::vector<int>{0, 1, 4}));
  EXPECT_FALSE(policies->at("cpu").numa_node.has_value());
  EXPECT_EQ(*policies->at("gpu_0").numa_node, 1);
  EXPECT_EQ(*policies->at("gpu_0").cpu_cores, std::vector<int>{6});
}

TEST(HostPolicy, BadFlagsNameWhatIsWrong) {
  struct Case {
    std::vector<std::string> flags;
    const char* says;
  };
  for (const Case& c : {Case{{"cpu"}, "expected NAME,SETTING=VALUE"},
                        Case{{"cpu-cores=0"}, "expected NAME,SETTING=VALUE"},
                        Case{{",cpu-cores=0"}, "expected NAME,SETTING=VALUE"},
                        Case{{"cpu,cpu-cores"}, "expected NAME,SETTING=VALUE"},
                        Case{{"cpu,gpu-cores=0"}, "unknown setting \"gpu-cores\""},
                        Case{{"cpu,cpu-cores=x"}, "\"x\" is not a core"},
                        Case{{"cpu,numa-node=-1"}, "not a NUMA node number"},
                        Case{{"cpu,numa-node=0", "cpu,numa-node=1"}, "numa-node given twice"},
                        Case{{"cpu,cpu-cores=0", "cpu,cpu-cores=1"}, "cpu-cores given twice"}}) {
    auto policies = ParseHostPolicies(c.flags);
    ASSERT_FALSE(policies.ok()) << c.flags[0];
    EXPECT_EQ(policies.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(policies.status().message().find(c.says), std::string::npos)
        << policies.status().message();
    EXPECT_NE(policies.status().message().find("--host-policy " + c.flags.back()),
              std::string::npos)
        << policies.status().message();
  }
}

TEST(HostPolicy, DevicesTakeTritonsDefaultPolicyNames) {
  EXPECT_EQ(HostPolicyName(HostDevice(0)), "cpu");
  EXPECT_EQ(HostPolicyName(HostDevice(1)), "cpu");  // --gpus cpu:SPEC: virtual, on the host
  EXPECT_EQ(HostPolicyName(Gpu(0, 0)), "gpu_0");
  EXPECT_EQ(HostPolicyName(Gpu(1, 3)), "gpu_3");  // the CUDA index, as Triton's gpu_<id>
}

TEST(HostPolicy, EachDeviceGetsItsPolicysBinding) {
  const std::vector<Device> gpus = {Gpu(0, 0), Gpu(1, 1), Gpu(2, 2)};
  auto policies = ParseHostPolicies(
      {"gpu_0,numa-node=0", "gpu_1,numa-node=1", "gpu_1,cpu-cores=5", "gpu_2,cpu-cores=0,2"});
  ASSERT_TRUE(policies.ok());
  auto bindings = ResolveHostBindings(*policies, gpus, TwoNodes());
  ASSERT_TRUE(bindings.ok()) << bindings.status().ToString();
  ASSERT_EQ(bindings->size(), 3u);
  // A node alone: its cores, and its memory.
  EXPECT_EQ((*bindings)[0].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ((*bindings)[0].numa_node, 0);
  EXPECT_EQ((*bindings)[0].ToString(), "cpu-cores=0-3 numa-node=0");
  // cpu-cores wins over the node's cores; its memory stays on the node.
  EXPECT_EQ((*bindings)[1].cpus, std::vector<int>{5});
  EXPECT_EQ((*bindings)[1].numa_node, 1);
  EXPECT_EQ((*bindings)[2].ToString(), "cpu-cores=0,2");

  // Devices no policy names run unbound.
  auto one = ResolveHostBindings(*ParseHostPolicies({"gpu_1,cpu-cores=1"}), gpus, TwoNodes());
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE((*one)[0].empty());
  EXPECT_EQ((*one)[0].ToString(), "");
  EXPECT_FALSE((*one)[1].empty());
  // Every host device shares the policy "cpu".
  auto host = ResolveHostBindings(*ParseHostPolicies({"cpu,cpu-cores=1"}),
                                  {HostDevice(0), HostDevice(1)}, TwoNodes());
  ASSERT_TRUE(host.ok());
  EXPECT_EQ((*host)[0].cpus, std::vector<int>{1});
  EXPECT_EQ((*host)[1].cpus, std::vector<int>{1});
}

TEST(HostPolicy, PoliciesTheHostCannotHonourAreRefused) {
  const std::vector<Device> devices = {HostDevice(0)};
  struct Case {
    std::vector<std::string> flags;
    const char* says;
  };
  for (const Case& c :
       {Case{{"gpu_0,cpu-cores=0"},
             "no device of this server has that policy name (its "
             "devices' are: cpu)"},
        Case{{"cpu,cpu-cores=4-7"}, "cores 6-7 are not online on this host (online: 0-5)"},
        Case{{"cpu,numa-node=3"}, "this host has no NUMA node 3"},
        Case{{"cpu,numa-node=2"}, "NUMA node 2 has no cores (memory only); give cpu-cores too"}}) {
    auto bindings = ResolveHostBindings(*ParseHostPolicies(c.flags), devices, TwoNodes());
    ASSERT_FALSE(bindings.ok()) << c.flags[0];
    EXPECT_EQ(bindings.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bindings.status().message().find(c.says), std::string::npos)
        << bindings.status().message();
  }
  auto with_cores = ResolveHostBindings(*ParseHostPolicies({"cpu,numa-node=2", "cpu,cpu-cores=1"}),
                                        devices, TwoNodes());
  ASSERT_TRUE(with_cores.ok()) << with_cores.status().ToString();
  EXPECT_EQ((*with_cores)[0].ToString(), "cpu-cores=1 numa-node=2");
}

TEST(HostPolicy, TheRealTopologyHasTheCoresThisProcessRunsOn) {
  const HostTopology t = HostTopology::Read();
  ASSERT_FALSE(t.online_cpus.empty());
  EXPECT_TRUE(std::is_sorted(t.online_cpus.begin(), t.online_cpus.end()));
  const std::vector<int> mine = testing::AllowedCpus();
  ASSERT_FALSE(mine.empty());
  for (int c : mine) {
    EXPECT_TRUE(std::binary_search(t.online_cpus.begin(), t.online_cpus.end(), c)) << c;
  }
  // A kernel with NUMA lists its nodes; each node's cores are online ones.
  if (std::ifstream("/sys/devices/system/node/online")) {
    EXPECT_FALSE(t.node_cpus.empty());
  }
  for (const auto& [node, cpus] : t.node_cpus) {
    for (int c : cpus) {
      EXPECT_TRUE(std::binary_search(t.online_cpus.begin(), t.online_cpus.end(), c)) << node;
    }
  }
}

TEST(HostPolicy, TheProbeTellsWhatTheKernelAcceptsAndLeavesThisThreadAlone) {
  const std::vector<int> before = testing::AllowedCpus();
  ASSERT_FALSE(before.empty());
  HostBinding one;
  one.cpus = {before.front()};
  EXPECT_TRUE(ProbeHostBinding(one).ok());
  HostBinding none;
  none.cpus = {4095};  // on no machine this runs on
  const Status refused = ProbeHostBinding(none);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("the kernel refuses cpu-cores=4095 (sched_setaffinity: "),
            std::string::npos)
      << refused.message();
  EXPECT_EQ(testing::AllowedCpus(), before);
}

}  // namespace
}  // namespace modelgrid
