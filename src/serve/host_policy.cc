#include "serve/host_policy.h"

#include <linux/mempolicy.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "serve/grid_types.h"

namespace modelgrid {

namespace {

constexpr int kMaxCpu = 4096;  // well past any host; bounds what a flag can make us allocate
constexpr int kMaxNode = 1024;

std::optional<int> ParseIndex(std::string_view s, int limit) {
  int v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || ptr != end || v < 0 || v >= limit) return std::nullopt;
  return v;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string HostBinding::ToString() const {
  std::string out;
  if (!cpus.empty()) out = "cpu-cores=" + FormatCpuList(cpus);
  if (numa_node >= 0) out += (out.empty() ? "" : " ") + ("numa-node=" + std::to_string(numa_node));
  return out;
}

PreparedHostBinding::PreparedHostBinding(const HostBinding& binding) {
  if (!binding.cpus.empty()) {
    const int count = binding.cpus.back() + 1;
    cpus_size_ = CPU_ALLOC_SIZE(count);
    auto* set = CPU_ALLOC(count);
    CPU_ZERO_S(cpus_size_, set);
    for (int c : binding.cpus) CPU_SET_S(static_cast<size_t>(c), cpus_size_, set);
    cpus_ = set;
  }
  if (binding.numa_node >= 0) {
    constexpr int kBits = 8 * sizeof(unsigned long);
    nodes_.assign(static_cast<size_t>(binding.numa_node / kBits + 1), 0);
    nodes_[static_cast<size_t>(binding.numa_node / kBits)] |= 1UL << (binding.numa_node % kBits);
  }
}

PreparedHostBinding::~PreparedHostBinding() {
  if (cpus_ != nullptr) CPU_FREE(static_cast<cpu_set_t*>(cpus_));
}

int PreparedHostBinding::Apply(const char** failed_call) const {
  if (cpus_ != nullptr &&
      ::sched_setaffinity(0, cpus_size_, static_cast<const cpu_set_t*>(cpus_)) != 0) {
    *failed_call = "sched_setaffinity";
    return errno;
  }
  // The kernel reads maxnode - 1 bits of the mask.
  const unsigned long max_node = nodes_.size() * 8 * sizeof(unsigned long) + 1;
  if (!nodes_.empty() && ::syscall(SYS_set_mempolicy, MPOL_BIND, nodes_.data(), max_node) != 0) {
    *failed_call = "set_mempolicy";
    return errno;
  }
  return 0;
}

HostTopology HostTopology::Read() {
  HostTopology t;
  // An unreadable or empty list (a node with memory and no cores) reads as no cores.
  auto read_list = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    auto cpus = ParseCpuList(Trim(line));
    return cpus.ok() ? *cpus : std::vector<int>{};
  };
  t.online_cpus = read_list("/sys/devices/system/cpu/online");
  // The node list has the CPU list's syntax.
  for (int node : read_list("/sys/devices/system/node/online")) {
    t.node_cpus[node] =
        read_list("/sys/devices/system/node/node" + std::to_string(node) + "/cpulist");
  }
  return t;
}

Result<std::vector<int>> ParseCpuList(std::string_view list) {
  if (list.empty()) return InvalidArgument("empty CPU list");
  std::set<int> cpus;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const size_t dash = item.find('-');
    auto first = ParseIndex(item.substr(0, dash), kMaxCpu);
    auto last = dash == std::string_view::npos ? first : ParseIndex(item.substr(dash + 1), kMaxCpu);
    if (!first || !last || *last < *first) {
      return InvalidArgument("\"" + std::string(item) +
                             "\" is not a core or a range of cores (like 0-3; cores below " +
                             std::to_string(kMaxCpu) + ")");
    }
    for (int c = *first; c <= *last; ++c) cpus.insert(c);
    if (comma != std::string_view::npos && list.empty()) {
      return InvalidArgument("CPU list ends in ','");
    }
  }
  return std::vector<int>(cpus.begin(), cpus.end());
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

Result<std::map<std::string, HostPolicy>> ParseHostPolicies(const std::vector<std::string>& flags) {
  std::map<std::string, HostPolicy> policies;
  for (const std::string& flag : flags) {
    auto bad = [&flag](const std::string& why) {
      return InvalidArgument("--host-policy " + flag + ": " + why);
    };
    // One setting per flag, as Triton's: a CPU list's commas belong to its value.
    const size_t comma = flag.find(',');
    const size_t eq = flag.find('=', comma == std::string::npos ? 0 : comma);
    if (comma == 0 || comma == std::string::npos || eq == std::string::npos) {
      return bad("expected NAME,SETTING=VALUE (like cpu,cpu-cores=0-3 or gpu_0,numa-node=0)");
    }
    const std::string name = flag.substr(0, comma);
    const std::string setting = flag.substr(comma + 1, eq - comma - 1);
    const std::string value = flag.substr(eq + 1);
    HostPolicy& policy = policies[name];
    if (setting == "cpu-cores") {
      if (policy.cpu_cores) return bad("cpu-cores given twice for policy " + name);
      auto cpus = ParseCpuList(value);
      if (!cpus.ok()) return bad(cpus.status().message());
      policy.cpu_cores = std::move(*cpus);
    } else if (setting == "numa-node") {
      if (policy.numa_node) return bad("numa-node given twice for policy " + name);
      auto node = ParseIndex(value, kMaxNode);
      if (!node) return bad("\"" + value + "\" is not a NUMA node number");
      policy.numa_node = *node;
    } else {
      return bad("unknown setting \"" + setting + "\" (ModelGrid knows cpu-cores and numa-node)");
    }
  }
  return policies;
}

std::string HostPolicyName(const Device& device) {
  if (device.host) return "cpu";
  const size_t colon = device.runtime.find(':');
  return "gpu_" + (colon == std::string::npos ? std::to_string(device.index)
                                              : device.runtime.substr(colon + 1));
}

Result<std::vector<HostBinding>> ResolveHostBindings(
    const std::map<std::string, HostPolicy>& policies, const std::vector<Device>& devices,
    const HostTopology& topology) {
  std::vector<HostBinding> bindings(devices.size());
  std::set<std::string> used;
  for (const Device& device : devices) {
    const std::string name = HostPolicyName(device);
    auto it = policies.find(name);
    if (it == policies.end()) continue;
    used.insert(name);
    const HostPolicy& policy = it->second;
    HostBinding& binding = bindings[static_cast<size_t>(device.index)];
    const auto& online = topology.online_cpus;
    if (policy.numa_node) {
      auto node = topology.node_cpus.find(*policy.numa_node);
      if (node == topology.node_cpus.end()) {
        return InvalidArgument("--host-policy " + name + ": this host has no NUMA node " +
                               std::to_string(*policy.numa_node));
      }
      binding.numa_node = *policy.numa_node;
      if (!policy.cpu_cores) {
        binding.cpus = node->second;
        if (binding.cpus.empty()) {
          return InvalidArgument("--host-policy " + name + ": NUMA node " +
                                 std::to_string(binding.numa_node) +
                                 " has no cores (memory only); give cpu-cores too");
        }
      }
    }
    if (policy.cpu_cores) {
      std::vector<int> outside;
      std::set_difference(policy.cpu_cores->begin(), policy.cpu_cores->end(), online.begin(),
                          online.end(), std::back_inserter(outside));
      if (!outside.empty()) {
        return InvalidArgument("--host-policy " + name + ": cores " + FormatCpuList(outside) +
                               " are not online on this host (online: " + FormatCpuList(online) +
                               ")");
      }
      binding.cpus = *policy.cpu_cores;
    }
  }
  for (const auto& [name, policy] : policies) {
    if (used.count(name)) continue;
    std::set<std::string> names;
    for (const Device& device : devices) names.insert(HostPolicyName(device));
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    return InvalidArgument("--host-policy " + name + ": no device of this server has that " +
                           "policy name (its devices' are: " + list + ")");
  }
  return bindings;
}

Status ProbeHostBinding(const HostBinding& binding) {
  const PreparedHostBinding prepared(binding);
  int error = 0;
  const char* call = nullptr;
  std::thread([&] { error = prepared.Apply(&call); }).join();
  if (error == 0) return Status::Ok();
  return InvalidArgument("the kernel refuses " + binding.ToString() + " (" + call + ": " +
                         std::strerror(error) + ")");
}

}  // namespace modelgrid
