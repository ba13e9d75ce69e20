// The cores the calling thread may run on, for tests of CPU binding.
#pragma once

#include <sched.h>

#include <vector>

namespace modelgrid::testing {

// Sorted; empty when sched_getaffinity fails.
inline std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

}  // namespace modelgrid::testing
