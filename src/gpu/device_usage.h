// Live resource usage of this machine: per-GPU memory, utilisation and processes (NVML),
// host memory and CPU load (/proc), and the resident memory of a process tree.
//
//   auto gpus = QueryGpuUsage();            // kUnavailable without an NVIDIA driver
//   auto host = QueryHostMemory();          // host->used_bytes
//   CpuUtilization cpu;  cpu.Sample();  ... later: double busy = cpu.Sample();
//   auto rss = ProcessTreeRssBytes(worker_pid);
//
// The Parse* functions are the pure text parsers behind the queries, exposed for tests.
// Parsers accept any input: malformed text yields kCorruptData, never a crash. Queries
// block on small /proc reads (and NVML); all functions are thread-safe except where noted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid {

// ---- GPUs (NVML) ----

struct GpuProcessUsage {
  uint32_t pid = 0;                    // host pid as NVML reports it (container pids differ)
  std::optional<uint64_t> used_bytes;  // nullopt when NVML cannot account the process
};

struct GpuUsage {
  int index = 0;                           // NVML index
  std::string name;                        // "NVIDIA H100 80GB HBM3"; "unknown" on error
  std::string uuid;                        // "GPU-..."; empty when NVML cannot tell
  uint64_t total_bytes = 0;                // device memory
  uint64_t used_bytes = 0;                 // in use by all processes and the driver
  std::optional<int> utilization_percent;  // busy percent over NVML's last sample period
  bool processes_known = false;            // false: NVML could not list the processes
  std::vector<GpuProcessUsage> processes;  // compute processes with a context on the GPU
};

// One entry per GPU NVML sees. kUnavailable with a sentence fit for users when
// libnvidia-ml.so.1 is missing, NVML fails to initialise, or no GPU is present. Blocks
// for NVML's initialisation (milliseconds to seconds); not thread-safe against
// concurrent NVML users in the same process.
Result<std::vector<GpuUsage>> QueryGpuUsage();

// ---- Host memory and CPU (/proc) ----

struct HostMemory {
  uint64_t total_bytes = 0;      // MemTotal
  uint64_t available_bytes = 0;  // MemAvailable (MemFree + Buffers + Cached before 3.14)
  uint64_t used_bytes = 0;       // total_bytes - available_bytes
};

// Parses /proc/meminfo text. kCorruptData when MemTotal is missing or malformed, when
// neither MemAvailable nor MemFree is present, or when available exceeds total.
Result<HostMemory> ParseMeminfo(std::string_view text);
// Reads /proc/meminfo; kUnavailable when it cannot be read.
Result<HostMemory> QueryHostMemory();

// Cumulative CPU time of all CPUs, in clock ticks, from the "cpu " line of /proc/stat.
struct CpuTimes {
  uint64_t busy_ticks = 0;   // total_ticks minus idle and iowait
  uint64_t total_ticks = 0;  // user+nice+system+idle+iowait+irq+softirq+steal
};
// Parses /proc/stat text; kCorruptData without a well-formed aggregate "cpu " line.
Result<CpuTimes> ParseProcStatCpu(std::string_view text);

// Host CPU load between successive calls. Not thread-safe: one instance per sampler.
class CpuUtilization {
 public:
  // Fraction of CPU time (0..1, over all CPUs) spent busy since the previous call; 0 on
  // the first call, when no time passed, or when /proc/stat cannot be read or parsed.
  double Sample();

 private:
  std::optional<CpuTimes> previous_;
};

// ---- Process memory (/proc) ----

// Parses /proc/PID/status text: the VmRSS line in bytes. kNotFound when the line is
// absent (kernel threads, zombies), kCorruptData when it is malformed.
Result<uint64_t> ParseStatusRss(std::string_view text);
// Parses /proc/PID/smaps_rollup text: the Rss line in bytes, same errors as above.
Result<uint64_t> ParseSmapsRollupRss(std::string_view text);
// Parses /proc/PID/stat text: the parent pid (field 4, after the parenthesised command
// name, which may itself contain spaces and parentheses). kCorruptData when malformed.
Result<pid_t> ParseStatPpid(std::string_view text);

// Resident set size of `pid` in bytes: VmRSS of /proc/PID/status, else Rss of
// smaps_rollup, else 0 (a process without an address space: zombie or kernel thread).
// kNotFound when the process does not exist or cannot be read.
Result<uint64_t> ProcessRssBytes(pid_t pid);

// Sum of ProcessRssBytes over `pid` and all its descendants (found through the ppid of
// every /proc/*/stat). Processes that exit during the walk are skipped. Shared pages are
// counted once per process, so this is an upper bound of the tree's resident memory.
// kNotFound when `pid` itself does not exist.
Result<uint64_t> ProcessTreeRssBytes(pid_t pid);

}  // namespace modelgrid
