// Device and process usage: /proc parsers on fixed texts, live /proc queries on this
// machine, and the NVML path (which must explain itself on a machine without a GPU).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "gpu/device_usage.h"

namespace modelgrid {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

TEST(DeviceUsage, ParsesMeminfo) {
  const char* text =
      "MemTotal:       16303428 kB\n"
      "MemFree:         1234567 kB\n"
      "MemAvailable:    8000000 kB\n"
      "Buffers:          100000 kB\n"
      "Cached:          5000000 kB\n"
      "SwapCached:            0 kB\n"
      "HugePages_Total:       0\n";
  auto memory = ParseMeminfo(text);
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_EQ(memory->total_bytes, 16303428 * kKiB);
  EXPECT_EQ(memory->available_bytes, 8000000 * kKiB);
  EXPECT_EQ(memory->used_bytes, (16303428 - 8000000) * kKiB);

  // Before Linux 3.14 there is no MemAvailable: free + buffers + cached.
  auto old = ParseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 30 kB\n");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->available_bytes, 150 * kKiB);
  EXPECT_EQ(old->used_bytes, 850 * kKiB);
}

TEST(DeviceUsage, RejectsMalformedMeminfo) {
  const char* bad[] = {
      "",
      "garbage\n\n\x01\xff",
      "MemAvailable: 10 kB\n",                                 // no MemTotal
      "MemTotal: lots kB\nMemAvailable: 1 kB\n",               // not a number
      "MemTotal: 10 MB\nMemAvailable: 1 kB\n",                 // unknown unit
      "MemTotal: 99999999999999999999999 kB\n",                // overflows uint64
      "MemTotal: 18014398509481984 kB\nMemAvailable: 1 kB\n",  // overflows in bytes
      "MemTotal: 10 kB\nMemAvailable: 20 kB\n",                // available > total
      "MemTotal: 10 kB\n",                                     // neither available nor free
      "MemTotal: -5 kB\nMemAvailable: 1 kB\n",
  };
  for (const char* text : bad) {
    auto memory = ParseMeminfo(text);
    EXPECT_FALSE(memory.ok()) << text;
  }
}

TEST(DeviceUsage, ParsesProcStatCpu) {
  const char* text =
      "cpu  100 5 50 800 20 3 2 10 7 0\n"
      "cpu0 50 2 25 400 10 1 1 5 3 0\n"
      "intr 12345 0 0\n";
  auto times = ParseProcStatCpu(text);
  ASSERT_TRUE(times.ok()) << times.status().ToString();
  EXPECT_EQ(times->total_ticks, 100u + 5 + 50 + 800 + 20 + 3 + 2 + 10);  // guest excluded
  EXPECT_EQ(times->busy_ticks, times->total_ticks - 800 - 20);

  auto four = ParseProcStatCpu("cpu 1 2 3 4\n");  // very old kernels
  ASSERT_TRUE(four.ok());
  EXPECT_EQ(four->total_ticks, 10u);
  EXPECT_EQ(four->busy_ticks, 6u);

  for (const char* bad : {"", "cpu0 1 2 3 4\n", "cpu 1 2 3\n", "cpu 1 2 x 4\n",
                          "cpu 18446744073709551615 1 0 0\n", "intr 1\ncpu\n"}) {
    EXPECT_FALSE(ParseProcStatCpu(bad).ok()) << bad;
  }
}

TEST(DeviceUsage, CpuUtilizationIsAFraction) {
  CpuUtilization cpu;
  EXPECT_EQ(cpu.Sample(), 0.0);  // first call: nothing to compare with
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  volatile uint64_t spin = 0;
  while (std::chrono::steady_clock::now() < until) spin = spin + 1;
  const double busy = cpu.Sample();
  EXPECT_GE(busy, 0.0);
  EXPECT_LE(busy, 1.0);
}

TEST(DeviceUsage, ParsesStatusAndStat) {
  auto rss = ParseStatusRss("Name:\tcat\nVmPeak:\t  9000 kB\nVmRSS:\t  1234 kB\nThreads: 1\n");
  ASSERT_TRUE(rss.ok()) << rss.status().ToString();
  EXPECT_EQ(*rss, 1234 * kKiB);
  auto kernel_thread = ParseStatusRss("Name:\tkthreadd\nState:\tS (sleeping)\n");
  EXPECT_EQ(kernel_thread.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ParseStatusRss("VmRSS: x kB\n").status().code(), StatusCode::kCorruptData);
  EXPECT_EQ(ParseStatusRss("VmRSS:\n").status().code(), StatusCode::kCorruptData);

  auto rollup = ParseSmapsRollupRss(
      "55d0c0000000-7ffd00000000 ---p 00000000 00:00 0  [rollup]\nRss:  4096 kB\nPss: 1 kB\n");
  ASSERT_TRUE(rollup.ok());
  EXPECT_EQ(*rollup, 4 * kMiB);

  auto ppid = ParseStatPpid("1234 (my (odd) prog) S 42 1234 1234 0 -1 4194560 100\n");
  ASSERT_TRUE(ppid.ok()) << ppid.status().ToString();
  EXPECT_EQ(*ppid, 42);
  for (const char* bad : {"", "1234 (x", "1234 (x)", "1234 (x) S", "1234 (x) S abc",
                          "1234 (x) S -1", "1234 (x) S 99999999999999999999"}) {
    EXPECT_FALSE(ParseStatPpid(bad).ok()) << bad;
  }
}

TEST(DeviceUsage, HostMemoryOfThisMachine) {
  auto memory = QueryHostMemory();
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_GT(memory->total_bytes, 0u);
  EXPECT_LE(memory->available_bytes, memory->total_bytes);
  EXPECT_EQ(memory->used_bytes, memory->total_bytes - memory->available_bytes);
}

TEST(DeviceUsage, RssOfThisProcessAndAChild) {
  auto self = ProcessRssBytes(::getpid());
  ASSERT_TRUE(self.ok()) << self.status().ToString();
  EXPECT_GT(*self, 0u);

  // A child that touches 32 MiB and waits: its RSS and the tree's include those pages.
  constexpr size_t kTouched = 32 * kMiB;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::vector<char> pages(kTouched);
    std::memset(pages.data(), 1, pages.size());
    const char byte = 'r';
    if (::write(ready[1], &byte, 1) != 1) ::_exit(1);
    ::pause();
    ::_exit(pages[kTouched / 2] == 1 ? 0 : 1);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);

  auto child_rss = ProcessRssBytes(child);
  auto tree = ProcessTreeRssBytes(::getpid());
  auto self_again = ProcessRssBytes(::getpid());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);

  ASSERT_TRUE(child_rss.ok()) << child_rss.status().ToString();
  EXPECT_GE(*child_rss, kTouched);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  ASSERT_TRUE(self_again.ok());
  EXPECT_GE(*tree, *child_rss + *self_again / 2);  // the parent's RSS moves a little

  auto gone = ProcessRssBytes(child);  // reaped: no such process
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ProcessTreeRssBytes(child).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ProcessRssBytes(0).status().code(), StatusCode::kInvalidArgument);
}

TEST(DeviceUsage, GpuQueryOnThisMachine) {
  auto gpus = QueryGpuUsage();
  if (!gpus.ok()) {
    // The expected path on machines without an NVIDIA driver (such as CI).
    EXPECT_EQ(gpus.status().code(), StatusCode::kUnavailable);
    EXPECT_FALSE(gpus.status().message().empty());
    std::printf("note: no GPU here, QueryGpuUsage said: %s\n", gpus.status().ToString().c_str());
    return;
  }
  ASSERT_FALSE(gpus->empty());
  for (const GpuUsage& gpu : *gpus) {
    EXPECT_GT(gpu.total_bytes, 0u);
    EXPECT_LE(gpu.used_bytes, gpu.total_bytes);
    EXPECT_FALSE(gpu.name.empty());
    if (gpu.utilization_percent) {
      EXPECT_GE(*gpu.utilization_percent, 0);
      EXPECT_LE(*gpu.utilization_percent, 100);
    }
    for (const GpuProcessUsage& p : gpu.processes) {
      if (p.used_bytes) {
        EXPECT_LE(*p.used_bytes, gpu.total_bytes);
      }
    }
  }
  GTEST_SKIP() << "A GPU IS PRESENT: only sanity of QueryGpuUsage was checked, not the "
                  "no-driver kUnavailable path";
}

}  // namespace
}  // namespace modelgrid
