// GPU inventory: virtual specs and the NVML path on a machine that may have no driver.
#include <gtest/gtest.h>

#include "gpu/gpu_catalog.h"
#include "gpu/inventory.h"

namespace modelgrid {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(GpuSpec, CatalogNamesCountsAndSizes) {
  auto gpus = ParseGpuSpec("2xH100-80GB,1xL4");
  ASSERT_TRUE(gpus.ok()) << gpus.status().ToString();
  ASSERT_EQ(gpus->size(), 3u);
  EXPECT_EQ((*gpus)[0].name, "H100-80GB");
  EXPECT_EQ((*gpus)[1].capacity_bytes, FindGpu("H100-80GB")->memory_bytes);
  EXPECT_EQ((*gpus)[2].name, "L4");
  EXPECT_EQ((*gpus)[2].context_bytes, FindGpu("L4")->context_bytes);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*gpus)[i].index, i);
    EXPECT_TRUE((*gpus)[i].is_virtual);
  }

  auto sized = ParseGpuSpec("4x80GiB");
  ASSERT_TRUE(sized.ok());
  ASSERT_EQ(sized->size(), 4u);
  EXPECT_EQ((*sized)[3].capacity_bytes, 80 * kGiB);
  EXPECT_EQ((*sized)[3].context_bytes, DefaultGpu().context_bytes);

  struct Case {
    const char* spec;
    uint64_t bytes;
    size_t count;
  } cases[] = {{"1x24GiB", 24 * kGiB, 1},
               {"H200", FindGpu("H200")->memory_bytes, 1},
               {"24GB", 24000000000ull, 1},
               {"3x 512MiB", 512ull << 20, 3},
               {"1xh100", FindGpu("H100-80GB")->memory_bytes, 1},
               {"2X1TiB", 1ull << 40, 2},
               {"1.5GiB", 3 * kGiB / 2, 1},
               // Every unit, bytes included: exact capacities.
               {"4x85899345920B", 80 * kGiB, 4},
               {"2x1048576 B", 1ull << 20, 2},
               {"1x2097152KiB", 2 * kGiB, 1},
               {"1x2000000KB", 2000000000ull, 1},
               {"1x0.5TB", 500000000000ull, 1},
               {"4090", FindGpu("RTX4090")->memory_bytes, 1}};
  for (const auto& c : cases) {
    auto g = ParseGpuSpec(c.spec);
    ASSERT_TRUE(g.ok()) << c.spec << ": " << g.status().ToString();
    EXPECT_EQ(g->size(), c.count) << c.spec;
    EXPECT_EQ(g->front().capacity_bytes, c.bytes) << c.spec;
  }
}

TEST(GpuSpec, RejectsMalformedSpecsNamingTheTerm) {
  struct Case {
    const char* spec;
    const char* needle;
  } cases[] = {
      {"", "empty"},
      {"0xH100", "at least 1"},
      {"-2xH100", "'-2xH100'"},
      {"5000xL4", "exceeds 4096"},
      {"4000xL4,200xL4", "more than 4096"},
      {"2xH900", "unknown GPU 'H900'"},
      {"0GiB", "out of range"},
      {"100TiB", "out of range"},
      {"2x", "missing"},
      {"H100,,L4", "empty term"},
      {"12parsecs", "unknown GPU"},
      {"1x512KiB", "out of range"},
      {"4x1048575B", "out of range"},
      {"1x1.2.3GiB", "not a size"},
  };
  for (const auto& c : cases) {
    auto g = ParseGpuSpec(c.spec);
    ASSERT_FALSE(g.ok()) << c.spec;
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << c.spec;
    EXPECT_NE(g.status().message().find(c.needle), std::string::npos)
        << c.spec << " -> " << g.status().message();
  }
}

TEST(GpuNvml, DiscoveryNeverCrashesAndExplainsAbsence) {
  auto gpus = DiscoverNvmlGpus();
  if (gpus.ok()) {
    ASSERT_FALSE(gpus->empty());
    for (const auto& g : *gpus) {
      EXPECT_FALSE(g.is_virtual);
      EXPECT_GT(g.capacity_bytes, 0u);
      EXPECT_LE(g.free_bytes, g.capacity_bytes);
      EXPECT_GT(g.context_bytes, 0u);
    }
  } else {
    EXPECT_EQ(gpus.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(gpus.status().message().find("--gpus"), std::string::npos);
  }
  auto resolved = ResolveGpus("auto");
  EXPECT_EQ(resolved.ok(), gpus.ok());
}

}  // namespace
}  // namespace modelgrid
