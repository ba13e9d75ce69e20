// End-to-end: size flags of `modelgrid serve` take every unit ParseByteSize reads, and
// anything else is refused before the server starts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "support/run_command.h"

namespace modelgrid {
namespace {

using testing::RunCommand;

const std::string kBinary = MODELGRID_BINARY;

TEST(CliSizeFlags, ServeSizeFlagsTakeUnits) {
  // The flags parse; the missing repository is what fails.
  const std::string missing = "/nonexistent/mg_repo_" + std::to_string(::getpid());
  for (const char* flags : {"--http-max-body-bytes 64MiB --http-max-header-bytes 16KiB",
                            "--http-max-body-bytes 1GB --http-max-header-bytes 8192B",
                            "--http-max-body-bytes 1048576 --http-max-header-bytes 0.5KiB"}) {
    auto r = RunCommand(kBinary + " serve " + missing + " " + flags);
    EXPECT_NE(r.exit_code, 0) << flags;
    EXPECT_EQ(r.out.find("--http-max"), std::string::npos) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(missing), std::string::npos) << flags << "\n" << r.out;
  }
  struct Case {
    const char* flags;
    const char* needle;
  } cases[] = {
      {"--http-max-body-bytes 12parsecs", "not a size"},
      {"--http-max-body-bytes -1", "not a size"},
      {"--http-max-body-bytes 0", "--http-max-body-bytes"},       // a body limit of 0
      {"--http-max-header-bytes 64", "--http-max-header-bytes"},  // under 256
      {"--http-max-body-bytes 8GiB", "--http-max-body-bytes"},    // over 4 GiB
  };
  for (const auto& c : cases) {
    auto r = RunCommand(kBinary + " serve " + missing + " " + c.flags);
    EXPECT_NE(r.exit_code, 0) << c.flags;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.flags << "\n" << r.out;
    EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace modelgrid
