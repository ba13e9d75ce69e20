// Admission of run-time loads: device choice per strategy, forced devices, worker contexts,
// shared transients, refusals and fragmentation. Pure functions: no workers needed.
#include <gtest/gtest.h>

#include "serve/admission.h"

namespace modelgrid {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

DeviceState Device(int index, uint64_t capacity_mib, uint64_t planned_mib, bool shared = true,
                   uint64_t shared_transient_mib = 0) {
  DeviceState d;
  d.index = index;
  d.label = "gpu" + std::to_string(index);
  d.capacity_bytes = capacity_mib * kMiB;
  d.planned_bytes = planned_mib * kMiB;
  d.context_bytes = 100 * kMiB;
  d.has_shared_worker = shared;
  d.shared_transient_bytes = shared_transient_mib * kMiB;
  return d;
}

AdmissionRequest Request(uint64_t footprint_mib, Strategy strategy,
                         Isolation isolation = Isolation::kShared, uint64_t transient_mib = 0) {
  AdmissionRequest r;
  r.model = "m";
  r.footprint_bytes = footprint_mib * kMiB;
  r.transient_bytes = transient_mib * kMiB;
  r.isolation = isolation;
  r.strategy = strategy;
  return r;
}

// Free: gpu0 300 MiB, gpu1 700 MiB, gpu2 500 MiB; all have a shared worker.
std::vector<DeviceState> ThreeDevices() {
  return {Device(0, 1000, 700), Device(1, 1000, 300), Device(2, 1000, 500)};
}

TEST(ServeAdmission, StrategiesChooseTheirDevice) {
  const auto devices = ThreeDevices();
  struct Case {
    Strategy strategy;
    int device;
  } cases[] = {
      {Strategy::kFillFirst, 0},         // the first that fits
      {Strategy::kConventional, 0},      // also first fit
      {Strategy::kBalanceLoad, 1},       // the most free
      {Strategy::kLatencySensitive, 1},  // the most free
      {Strategy::kMemoryOptimized, 0},   // the tightest fit
      {Strategy::kOptimal, 0},           // the tightest fit
  };
  for (const auto& c : cases) {
    auto a = Admit(Request(200, c.strategy), devices);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->device, c.device) << static_cast<int>(c.strategy);
    EXPECT_FALSE(a->new_worker);
    EXPECT_EQ(a->cost_bytes, 200 * kMiB);
  }
  // 400 MiB skips gpu0 (300 free): best fit is gpu2, fill-first takes gpu1.
  auto best = Admit(Request(400, Strategy::kMemoryOptimized), devices);
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(best->device, 2);
  auto first = Admit(Request(400, Strategy::kFillFirst), devices);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->device, 1);
}

TEST(ServeAdmission, ForcedDeviceIsTheOnlyCandidate) {
  const auto devices = ThreeDevices();
  AdmissionRequest r = Request(200, Strategy::kBalanceLoad);
  r.device = 2;
  auto a = Admit(r, devices);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->device, 2);
  r.device = 9;
  auto missing = Admit(r, devices);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("no device 9"), std::string::npos);
  // Forced onto a device without room: refused even though another has room.
  r = Request(400, Strategy::kFillFirst);
  r.device = 0;
  auto full = Admit(r, devices);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("gpu0 has 300 MiB free"), std::string::npos);
  EXPECT_EQ(full.status().message().find("gpu1"), std::string::npos);
}

TEST(ServeAdmission, ANewWorkerPaysTheContext) {
  // No shared worker yet: a shared model starts one; a process model always does.
  const std::vector<DeviceState> devices = {Device(0, 1000, 0, /*shared=*/false)};
  auto shared = Admit(Request(200, Strategy::kFillFirst), devices);
  ASSERT_TRUE(shared.ok());
  EXPECT_TRUE(shared->new_worker);
  EXPECT_EQ(shared->cost_bytes, 300 * kMiB);
  const auto with_worker = ThreeDevices();
  auto process = Admit(Request(200, Strategy::kFillFirst, Isolation::kProcess, /*transient=*/150),
                       with_worker);
  ASSERT_TRUE(process.ok());
  EXPECT_TRUE(process->new_worker);
  EXPECT_EQ(process->cost_bytes, 300 * kMiB);  // the whole footprint: transients do not help
  // 250 + 100 does not fit in gpu0's 300 MiB; gpu1 is next.
  auto big = Admit(Request(250, Strategy::kFillFirst, Isolation::kProcess), with_worker);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->device, 1);
}

TEST(ServeAdmission, SharedModelsPayOnlyWhatTheirTransientAddsToTheWorkers) {
  // gpu0: 300 MiB free, its shared worker's largest transient is 150 MiB.
  const std::vector<DeviceState> devices = {Device(0, 1000, 700, true, 150)};
  struct Case {
    uint64_t footprint_mib, transient_mib, cost_mib;
  } cases[] = {
      {400, 150, 250},  // resident 250, transient under the worker's 150
      {400, 100, 300},  // resident 300
      {400, 200, 250},  // resident 200 + 50 more transient
      {200, 0, 200},    // all resident
      {300, 300, 150},  // resident 0 + 150 more transient
  };
  for (const auto& c : cases) {
    auto a =
        Admit(Request(c.footprint_mib, Strategy::kFillFirst, Isolation::kShared, c.transient_mib),
              devices);
    ASSERT_TRUE(a.ok()) << c.footprint_mib << "/" << c.transient_mib;
    EXPECT_EQ(a->cost_bytes, c.cost_mib * kMiB) << c.footprint_mib << "/" << c.transient_mib;
    EXPECT_FALSE(a->new_worker);
  }
  // A new shared worker starts with no transient: the whole footprint and a context.
  std::vector<DeviceState> fresh = {Device(0, 1000, 0, /*shared=*/false, 150)};
  auto a = Admit(Request(400, Strategy::kFillFirst, Isolation::kShared, 150), fresh);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->cost_bytes, 500 * kMiB);
  // The transient is what makes it fit: 450 footprint, 300 of it transient, costs 300.
  auto fits = Admit(Request(450, Strategy::kFillFirst, Isolation::kShared, 300), devices);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->cost_bytes, 300 * kMiB);
  auto too_big = Admit(Request(500, Strategy::kFillFirst, Isolation::kShared, 100), devices);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("at least 100 MiB more is needed on gpu0"),
            std::string::npos)
      << too_big.status().message();
}

TEST(ServeAdmission, RefusalSaysWhatIsMissingAndWhere) {
  std::vector<DeviceState> devices = {Device(0, 1000, 754), Device(1, 2000, 1900)};
  devices[1].measured_free_bytes = 50 * kMiB;
  AdmissionRequest r = Request(600, Strategy::kMemoryOptimized);
  r.model = "resnet";
  auto a = Admit(r, devices);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(a.status().message(),
            "model resnet needs 600 MiB (plus a worker context where it would start one) but no "
            "device has room: gpu0 has 246 MiB free of 1000 MiB, gpu1 has 50 MiB free of 2000 MiB "
            "(measured free 50 MiB); at least 354 MiB more is needed on gpu0");
}

TEST(ServeAdmission, FreeBytesTakesTheMeasurementWhenLower) {
  DeviceState d = Device(0, 1000, 400);
  EXPECT_EQ(FreeBytes(d), 600 * kMiB);
  d.measured_free_bytes = 500 * kMiB;
  EXPECT_EQ(FreeBytes(d), 500 * kMiB);
  d.measured_free_bytes = 900 * kMiB;
  EXPECT_EQ(FreeBytes(d), 600 * kMiB);
  d.planned_bytes = 1200 * kMiB;  // over-planned: nothing free, not a wrap-around
  EXPECT_EQ(FreeBytes(d), 0u);
}

TEST(ServeAdmission, FragmentationIsOneMinusLargestOverTotalFree) {
  EXPECT_DOUBLE_EQ(Fragmentation({}), 0.0);
  EXPECT_DOUBLE_EQ(Fragmentation({Device(0, 1000, 1000)}), 0.0);  // nothing free
  EXPECT_DOUBLE_EQ(Fragmentation({Device(0, 1000, 200)}), 0.0);   // all in one place
  // Free 300 + 700 + 500 = 1500, largest 700.
  EXPECT_DOUBLE_EQ(Fragmentation(ThreeDevices()), 1.0 - 700.0 / 1500.0);
  std::vector<DeviceState> even;
  for (int i = 0; i < 4; ++i) even.push_back(Device(i, 1000, 750));
  EXPECT_DOUBLE_EQ(Fragmentation(even), 0.75);
}

}  // namespace
}  // namespace modelgrid
