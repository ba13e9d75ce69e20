// The estimator's dry runs in a sandboxed modelgrid-worker child (estimate/dry_run*.h):
// the wire format between the two processes, and the child against the in-process run.
// Installs the sandboxed runner for every estimator test of this binary, so that they
// reach TorchScript dry runs the way `modelgrid` does.
#include <gtest/gtest.h>

#include <string>

#include "common/sanitizers.h"
#include "estimate/dry_run.h"
#include "estimate/dry_run_process.h"
#include "support/fixtures.h"

#ifdef MODELGRID_HAVE_TORCH
#include "backends/libtorch/dry_run.h"
#endif

namespace modelgrid {
namespace {

using nlohmann::json;

#ifdef MODELGRID_HAVE_TORCH
DryRunSandbox TestSandbox() {
  DryRunSandbox sandbox;
  sandbox.worker_executable = MODELGRID_WORKER_BINARY;
  return sandbox;
}

// Before main: estimator tests that dry-run TorchScript use the child, as modelgrid does.
const bool kRunnerInstalled = [] {
  SetDryRunner(SandboxedDryRunner(TestSandbox()));
  return true;
}();
#endif

TEST(DryRunWire, OptionsAndResultsRoundTrip) {
  DryRunOptions o;
  o.path = "/m/model.pt";
  o.batch = 8;
  o.input_shapes = {{3, 224, 224}, {7}};
  o.input_dtypes = {"float32", "int64"};
  o.activation_bytes = 2;
  o.extrapolate = false;
  auto back = DryRunOptionsFromJson(DryRunOptionsToJson(o));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(DryRunOptionsToJson(*back), DryRunOptionsToJson(o));

  DryRunResult r;
  const uint32_t a = r.trace.Alloc(100);
  const uint32_t b = r.trace.Alloc(5000);
  r.trace.Free(a);
  r.trace.Alloc(7);
  r.trace.Free(b);
  r.matmul_count = 3;
  r.input_bytes = 1234;
  r.assumptions = {"one"};
  auto again = DryRunResultFromJson(DryRunResultToJson(r));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(DryRunResultToJson(*again), DryRunResultToJson(r));
  EXPECT_EQ(again->trace.PeakLiveBytes(), r.trace.PeakLiveBytes());
  EXPECT_EQ(again->input_bytes, 1234u);
}

TEST(DryRunWire, MalformedAnswersAreRejected) {
  for (const char* text : {
           R"([])",
           R"({})",
           R"({"trace": 5})",
           R"({"trace": [-1]})",
           R"({"trace": [10, -2]})",
           R"({"trace": [1.5]})",
           R"({"trace": [2000000000000000000]})",
           R"({"trace": [], "matmul_count": "many"})",
           R"({"trace": [], "input_bytes": -1})",
           R"({"trace": [], "input_bytes": 2000000000000000000})",
       }) {
    auto r = DryRunResultFromJson(json::parse(text));
    EXPECT_FALSE(r.ok()) << text;
  }
  EXPECT_FALSE(DryRunOptionsFromJson(json::parse(R"({"path": "m.pt", "batch": 0})")).ok());
  EXPECT_FALSE(DryRunOptionsFromJson(json::parse(R"({"batch": 1})")).ok());
  EXPECT_FALSE(DryRunOptionsFromJson(json::parse(R"({"path": 5})")).ok());
}

TEST(DryRunSandbox, AMissingWorkerExecutableIsUnavailable) {
  DryRunSandbox sandbox;
  sandbox.worker_executable = "/nonexistent/modelgrid-worker";
  DryRunOptions o;
  o.path = "/m.pt";
  auto r = SandboxedDryRunner(sandbox)(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

#ifdef MODELGRID_HAVE_TORCH
TEST(DryRunSandbox, TheChildAnswersAsTheInProcessRunDoes) {
  const std::string path = testing::Fixture("cv/resnet18.pt");
  if (path.empty())
    GTEST_SKIP() << "SKIPPED LOUDLY: cv/resnet18.pt fixture missing (scripts/make-fixtures.sh)";
  DryRunOptions o;
  o.path = path;
  o.batch = 8;
  auto child = SandboxedDryRunner(TestSandbox())(o);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  auto here = TorchScriptDryRun(o);
  ASSERT_TRUE(here.ok()) << here.status().ToString();
  EXPECT_EQ(child->trace.PeakLiveBytes(), here->trace.PeakLiveBytes());
  EXPECT_EQ(child->trace.events().size(), here->trace.events().size());
  EXPECT_EQ(child->conv_count, here->conv_count);
}

TEST(DryRunSandbox, ErrorsComeBackWithTheirCodes) {
  DryRunOptions o;
  o.path = "/nonexistent/model.pt";
  auto r = SandboxedDryRunner(TestSandbox())(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
}

TEST(DryRunSandbox, AHangIsCutOffAtTheDeadline) {
  const std::string path = testing::Fixture("cv/resnet18.pt");
  if (path.empty())
    GTEST_SKIP() << "SKIPPED LOUDLY: cv/resnet18.pt fixture missing (scripts/make-fixtures.sh)";
  DryRunSandbox sandbox = TestSandbox();
  sandbox.timeout_ms = 1;  // far less than loading LibTorch takes
  DryRunOptions o;
  o.path = path;
  auto r = SandboxedDryRunner(sandbox)(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().ToString();
}

TEST(DryRunSandbox, TheWarmRunnerAnswersAsTheColdOneCallAfterCall) {
  const std::string path = testing::Fixture("cv/resnet18.pt");
  if (path.empty())
    GTEST_SKIP() << "SKIPPED LOUDLY: cv/resnet18.pt fixture missing (scripts/make-fixtures.sh)";
  DryRunOptions o;
  o.path = path;
  o.batch = 2;
  auto cold = SandboxedDryRunner(TestSandbox())(o);
  ASSERT_TRUE(cold.ok()) << cold.status().ToString();
  DryRunner warm = WarmSandboxedDryRunner(TestSandbox());
  // The first call starts a child cold; each later one takes the spare its predecessor
  // left, which reads its request from stdin. Errors leave a spare too.
  for (int call = 0; call < 3; ++call) {
    auto r = warm(o);
    ASSERT_TRUE(r.ok()) << "call " << call << ": " << r.status().ToString();
    EXPECT_EQ(r->trace.PeakLiveBytes(), cold->trace.PeakLiveBytes()) << "call " << call;
    EXPECT_EQ(r->conv_count, cold->conv_count);
    DryRunOptions missing;
    missing.path = "/nonexistent/model.pt";
    auto bad = warm(missing);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kNotFound) << bad.status().ToString();
  }
}

TEST(DryRunSandbox, AModelThatNeedsTooMuchMemoryFailsAlone) {
  const std::string path = testing::Fixture("cv/resnet18.pt");
  if (path.empty())
    GTEST_SKIP() << "SKIPPED LOUDLY: cv/resnet18.pt fixture missing (scripts/make-fixtures.sh)";
  if (kAddressSanitizer)
    GTEST_SKIP() << "SKIPPED LOUDLY: AddressSanitizer build, where the dry run has no memory "
                    "limit (its shadow memory does not fit one)";
  DryRunSandbox sandbox = TestSandbox();
  sandbox.memory_bytes = uint64_t{1} << 30;
  DryRunOptions o;
  o.path = path;
  o.batch = 1;
  o.extrapolate = false;
  o.input_shapes = {{3, 20000, 20000}};  // 4.8 GB of input alone
  auto r = SandboxedDryRunner(sandbox)(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
}
#endif

}  // namespace
}  // namespace modelgrid
