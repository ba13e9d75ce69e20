// Host policies, as Triton's `--host-policy`: where on the host a device's workers run.
//
// `--host-policy NAME,SETTING=VALUE`, repeatable; each flag carries one setting, and flags
// of one NAME add up. NAME is Triton's default host policy of a device's instances: "cpu"
// for the host (and for the virtual devices of --gpus cpu:SPEC), "gpu_<N>" for CUDA device
// N. The settings, as Triton's:
//   cpu-cores=LIST  the workers run only on these cores (a Linux CPU list: "0-3,8")
//   numa-node=N     the workers allocate host memory on node N only, and run on its cores
//                   unless cpu-cores says otherwise
// A policy binds the worker processes (every thread of theirs, from their first
// instruction); the server's own threads stay where the scheduler puts them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid {

struct Device;

// Where one device's workers run: what the process manager applies before exec.
struct HostBinding {
  std::vector<int> cpus;  // sorted, unique; empty: any core the server may use
  int numa_node = -1;     // -1: host memory from any node
  bool empty() const { return cpus.empty() && numa_node < 0; }
  // "cpu-cores=0-3,8 numa-node=0", or "" when empty.
  std::string ToString() const;
};

// A binding made ready before fork, to be applied in the child, where only system calls
// are safe. Not copyable; owns its buffers.
class PreparedHostBinding {
 public:
  explicit PreparedHostBinding(const HostBinding& binding);
  ~PreparedHostBinding();
  PreparedHostBinding(const PreparedHostBinding&) = delete;
  PreparedHostBinding& operator=(const PreparedHostBinding&) = delete;

  // Binds the calling process (all its future threads, and across exec): its cores, then
  // its memory policy. Async-signal-safe. Returns 0, or the errno of the call that failed,
  // which `*failed_call` then names ("sched_setaffinity" or "set_mempolicy").
  int Apply(const char** failed_call) const;

 private:
  void* cpus_ = nullptr;  // cpu_set_t of CPU_ALLOC_SIZE(cpus_size_) bytes, or null
  size_t cpus_size_ = 0;
  std::vector<unsigned long> nodes_;  // set_mempolicy's node mask; empty: no policy
};

// One policy as the flags gave it.
struct HostPolicy {
  std::optional<std::vector<int>> cpu_cores;
  std::optional<int> numa_node;
};

// What the host has, read once at start (Read) or made up by tests. The server's own
// affinity does not limit its workers': `taskset -c 4-7 modelgrid serve --host-policy
// cpu,cpu-cores=0-3` keeps the server's threads and its workers apart.
struct HostTopology {
  std::vector<int> online_cpus;               // sorted
  std::map<int, std::vector<int>> node_cpus;  // NUMA node -> its online cores
  static HostTopology Read();                 // /sys/devices/system/{cpu,node}/online
};

// "0-3,8" -> {0,1,2,3,8}: sorted and unique. kInvalidArgument for an empty list, a range
// running backwards, a number that is not one, or a core >= 4096.
Result<std::vector<int>> ParseCpuList(std::string_view list);
// {0,1,2,3,8} -> "0-3,8".
std::string FormatCpuList(const std::vector<int>& cpus);

// The --host-policy flags, by name. kInvalidArgument naming the flag for a missing name or
// '=', an unknown setting, a setting given twice or a value that does not parse.
Result<std::map<std::string, HostPolicy>> ParseHostPolicies(const std::vector<std::string>& flags);

// Triton's default host policy name of `device`'s instances: "cpu" or "gpu_<cuda index>".
std::string HostPolicyName(const Device& device);

// Each device's binding, by Device::index. kInvalidArgument for a policy that names none of
// `devices`, a core that is not online, a node the host does not have, or a node without
// cores (and no cpu-cores given).
Result<std::vector<HostBinding>> ResolveHostBindings(
    const std::map<std::string, HostPolicy>& policies, const std::vector<Device>& devices,
    const HostTopology& topology);

// Whether the kernel lets this process's workers take `binding`: applies it to a thread of
// its own, which then ends (both calls bind the calling thread only). kInvalidArgument naming
// the call and the reason otherwise (cores a cpuset cgroup withholds, set_mempolicy refused
// by a seccomp filter). Blocks for the thread's life.
Status ProbeHostBinding(const HostBinding& binding);

}  // namespace modelgrid
