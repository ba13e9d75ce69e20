// Where tests find generated fixtures (scripts/fixtures/*.py write them).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace modelgrid::testing {

// $MODELGRID_FIXTURES, else <source>/.fixtures.
inline std::string FixturesDir() {
  if (const char* env = std::getenv("MODELGRID_FIXTURES"); env && *env) return env;
  return std::string(MODELGRID_SOURCE_DIR) + "/.fixtures";
}

// Path of a fixture, or "" when it was not generated.
inline std::string Fixture(const std::string& relative) {
  const std::string path = FixturesDir() + "/" + relative;
  return std::filesystem::exists(path) ? path : "";
}

}  // namespace modelgrid::testing

// Skips the current test loudly when a fixture is missing.
#define MG_REQUIRE_FIXTURE(var, relative)                                               \
  const std::string var = ::modelgrid::testing::Fixture(relative);                      \
  if (var.empty()) {                                                                    \
    GTEST_SKIP() << "SKIPPED: fixture " << (relative) << " is missing under "           \
                 << ::modelgrid::testing::FixturesDir()                                 \
                 << " (run scripts/test.sh, which generates it with /usr/bin/python3)"; \
  }
