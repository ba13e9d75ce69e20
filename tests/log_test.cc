// Logging: JSON lines stay parseable whatever the message, levels filter, files rotate,
// bad options are refused.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"

namespace modelgrid::logging {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test; the logger is reset to stderr-only before removal so the
// file sink lets go of its file.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/mg_log_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    LogOptions quiet;
    quiet.level = "warn";
    EXPECT_TRUE(InitLogging(quiet).ok());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  LogOptions FileOnly(const std::string& format, const std::string& level) {
    LogOptions options;
    options.format = format;
    options.level = level;
    options.file = (dir_ / "modelgrid.log").string();
    options.also_stderr = false;
    return options;
  }
  static std::vector<std::string> Lines(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  fs::path dir_;
};

// True for "2026-11-26T09:00:00.123Z": digits where the template has 'd'.
bool IsUtcTimestamp(std::string_view text) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kShape.size()) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

TEST_F(LogTest, JsonLinesParseForHostileMessages) {
  ASSERT_TRUE(InitLogging(FileOnly("json", "debug")).ok());
  const std::string hostile[] = {
      "plain",
      "quote \" backslash \\ slash /",
      "newline\nand\r\ttab",
      std::string("nul \0 byte", 10),
      "control \x01\x1f\x7f",
      "format {} {0} {:>10} %s %n",
      "bad utf-8 \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80",
      "good utf-8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      "{\"injected\":true}\n{\"level\":\"error\"}",
      std::string(5000, 'x'),
  };
  for (const std::string& message : hostile) Info(message);
  Flush();

  const auto lines = Lines(dir_ / "modelgrid.log");
  ASSERT_EQ(lines.size(), std::size(hostile));
  for (size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json object;
    ASSERT_NO_THROW(object = nlohmann::json::parse(lines[i])) << lines[i];
    ASSERT_TRUE(object.is_object());
    EXPECT_EQ(object.size(), 5u);
    EXPECT_EQ(object["level"], "info");
    EXPECT_EQ(object["logger"], "modelgrid");
    EXPECT_EQ(object["pid"], ::getpid());
    EXPECT_TRUE(IsUtcTimestamp(object["time"].get<std::string>())) << object["time"];
    const std::string message = object["message"];
    if (i == 6) {
      EXPECT_NE(message.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD replaced
    } else {
      EXPECT_EQ(message, hostile[i]);  // valid UTF-8 comes back byte for byte
    }
  }
}

TEST_F(LogTest, TextLinesAndLevelFilter) {
  ASSERT_TRUE(InitLogging(FileOnly("text", "warn")).ok());
  Debug("debug message");
  Info("info message");
  Warn("warn message");
  Error("error message");
  Flush();
  const auto lines = Lines(dir_ / "modelgrid.log");
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    // "<timestamp> [modelgrid] <level>: <message>"
    EXPECT_TRUE(IsUtcTimestamp(line.substr(0, 24))) << line;
    EXPECT_EQ(line.substr(24, 13), " [modelgrid] ") << line;
  }
  EXPECT_EQ(lines[0].substr(37), "warn: warn message");
  EXPECT_EQ(lines[1].substr(37), "error: error message");

  ASSERT_TRUE(InitLogging(FileOnly("text", "off")).ok());
  Error("not written");
  Flush();
  EXPECT_EQ(Lines(dir_ / "modelgrid.log").size(), 2u);

  ASSERT_TRUE(InitLogging(FileOnly("text", "trace")).ok());  // appends to the same file
  Debug("now kept");
  Flush();
  EXPECT_EQ(Lines(dir_ / "modelgrid.log").size(), 3u);
}

TEST_F(LogTest, RotatesBySizeAndCapsTheFileCount) {
  LogOptions options = FileOnly("json", "info");
  options.max_file_bytes = 4096;
  options.max_files = 3;
  ASSERT_TRUE(InitLogging(options).ok());
  const std::string payload(200, 'r');
  for (int i = 0; i < 400; ++i) Info(payload);  // ~120 KiB: many rotations
  Flush();

  EXPECT_TRUE(fs::exists(dir_ / "modelgrid.log"));
  EXPECT_TRUE(fs::exists(dir_ / "modelgrid.1.log"));
  EXPECT_TRUE(fs::exists(dir_ / "modelgrid.3.log"));
  EXPECT_FALSE(fs::exists(dir_ / "modelgrid.4.log"));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_LE(fs::file_size(entry.path()), options.max_file_bytes) << entry.path();
    for (const std::string& line : Lines(entry.path())) {
      EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    }
  }
  EXPECT_EQ(files, options.max_files + 1);  // the live file plus max_files rotated ones
}

TEST_F(LogTest, RejectsBadOptionsAndKeepsThePreviousLogger) {
  ASSERT_TRUE(InitLogging(FileOnly("text", "info")).ok());

  std::vector<LogOptions> bad;
  bad.push_back(FileOnly("text", "verbose"));
  bad.push_back(FileOnly("text", "warning"));  // spdlog's name, not ours
  bad.push_back(FileOnly("xml", "info"));
  bad.push_back(FileOnly("text", "info"));
  bad.back().file = "/proc/modelgrid-no-such-dir/x.log";  // cannot be created
  bad.push_back(FileOnly("text", "info"));
  bad.back().file = "";  // and no stderr: nowhere to write
  bad.push_back(FileOnly("text", "info"));
  bad.back().max_files = 0;
  bad.push_back(FileOnly("text", "info"));
  bad.back().max_file_bytes = 0;
  for (const LogOptions& options : bad) {
    const Status status = InitLogging(options);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument)
        << options.level << " " << options.format << " " << options.file;
    EXPECT_FALSE(status.message().empty());
  }

  Info("still here");
  Flush();
  const auto lines = Lines(dir_ / "modelgrid.log");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("info: still here"), std::string::npos);
}

}  // namespace
}  // namespace modelgrid::logging
