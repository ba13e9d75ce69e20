#include "common/log.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

namespace modelgrid::logging {

namespace {

constexpr const char* kLoggerName = "modelgrid";
constexpr int kMaxRotatedFiles = 1000;

std::mutex g_init_mutex;                 // serialises logger replacement
std::atomic<bool> g_initialized{false};  // a logger of ours is installed

const char* LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

bool ParseLevel(std::string_view name, spdlog::level::level_enum* level) {
  for (auto candidate : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
                         spdlog::level::warn, spdlog::level::err, spdlog::level::off}) {
    if (name == LevelName(candidate)) {
      *level = candidate;
      return true;
    }
  }
  return false;
}

void Append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// "2026-11-26T09:00:00.123Z"
void AppendUtcTime(spdlog::log_clock::time_point time, spdlog::memory_buf_t& dest) {
  using std::chrono::milliseconds;
  const auto since_epoch = std::chrono::floor<milliseconds>(time.time_since_epoch());
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const int millis = static_cast<int>((since_epoch - seconds).count());
  const time_t t = static_cast<time_t>(seconds.count());
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buffer[64];
  const int n = std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, millis);
  if (n > 0) Append(dest, std::string_view(buffer, static_cast<size_t>(n)));
}

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF are not well formed).
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // no overlongs
    if (b0 == 0xED) high = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // no overlongs
    if (b0 == 0xF4) high = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Appends `text` as the inside of a JSON string: quotes, backslashes and control
// characters escaped, ill-formed UTF-8 bytes replaced by U+FFFD.
void AppendJsonEscaped(std::string_view text, spdlog::memory_buf_t& dest) {
  while (!text.empty()) {
    const unsigned char c = static_cast<unsigned char>(text.front());
    size_t consumed = 1;
    if (c == '"') {
      Append(dest, "\\\"");
    } else if (c == '\\') {
      Append(dest, "\\\\");
    } else if (c == '\n') {
      Append(dest, "\\n");
    } else if (c == '\r') {
      Append(dest, "\\r");
    } else if (c == '\t') {
      Append(dest, "\\t");
    } else if (c < 0x20 || c == 0x7F) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
      Append(dest, buffer);
    } else if (c < 0x80) {
      dest.push_back(static_cast<char>(c));
    } else if (const size_t length = Utf8SequenceLength(text); length > 0) {
      Append(dest, text.substr(0, length));
      consumed = length;
    } else {
      Append(dest, "\xEF\xBF\xBD");  // U+FFFD for one ill-formed byte
    }
    text.remove_prefix(consumed);
  }
}

// Formats every line of the "modelgrid" logger; see log.h for both layouts.
class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view logger(msg.logger_name.data(), msg.logger_name.size());
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (json_) {
      Append(dest, "{\"time\":\"");
      AppendUtcTime(msg.time, dest);
      Append(dest, "\",\"level\":\"");
      Append(dest, LevelName(msg.level));
      Append(dest, "\",\"logger\":\"");
      AppendJsonEscaped(logger, dest);
      Append(dest, "\",\"pid\":");
      Append(dest, std::to_string(::getpid()));
      Append(dest, ",\"message\":\"");
      AppendJsonEscaped(payload, dest);
      Append(dest, "\"}\n");
      return;
    }
    AppendUtcTime(msg.time, dest);
    Append(dest, " [");
    Append(dest, logger);
    Append(dest, "] ");
    msg.color_range_start = dest.size();  // a colour sink on a TTY colours the level
    Append(dest, LevelName(msg.level));
    msg.color_range_end = dest.size();
    Append(dest, ": ");
    Append(dest, payload);
    Append(dest, "\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(json_);
  }

 private:
  bool json_;
};

// What the last InitLogging set (under g_init_mutex).
std::string g_format = "text";
std::string g_file;

Status InitLoggingLocked(const LogOptions& options) {
  spdlog::level::level_enum level = spdlog::level::info;
  if (!ParseLevel(options.level, &level)) {
    return InvalidArgument("unknown log level '" + options.level +
                           "'; expected trace, debug, info, warn, error or off");
  }
  if (options.format != "text" && options.format != "json") {
    return InvalidArgument("unknown log format '" + options.format + "'; expected text or json");
  }
  if (options.file.empty() && !options.also_stderr) {
    return InvalidArgument("logging has no destination: set a log file or keep stderr");
  }
  if (!options.file.empty() && options.max_file_bytes == 0) {
    return InvalidArgument("log file size limit must be above 0 bytes");
  }
  if (!options.file.empty() && (options.max_files < 1 || options.max_files > kMaxRotatedFiles)) {
    return InvalidArgument("log max_files " + std::to_string(options.max_files) +
                           " is outside 1.." + std::to_string(kMaxRotatedFiles));
  }
  const bool json = options.format == "json";
  std::vector<spdlog::sink_ptr> sinks;
  try {
    if (options.also_stderr) {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
          json ? spdlog::color_mode::never : spdlog::color_mode::automatic));
    }
    if (!options.file.empty()) {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file, static_cast<size_t>(options.max_file_bytes),
          static_cast<size_t>(options.max_files)));
    }
  } catch (const std::exception& e) {
    return InvalidArgument("cannot open log file '" + options.file + "': " + e.what());
  }
  auto logger = std::make_shared<spdlog::logger>(kLoggerName, sinks.begin(), sinks.end());
  logger->set_formatter(std::make_unique<LineFormatter>(json));
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  g_format = options.format;
  g_file = options.file;
  g_initialized.store(true, std::memory_order_release);
  return Status::Ok();
}

spdlog::logger* DefaultLogger() {
  if (!g_initialized.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(g_init_mutex);
    if (!g_initialized.load(std::memory_order_relaxed)) (void)InitLoggingLocked(LogOptions{});
  }
  return spdlog::default_logger_raw();
}

void Log(spdlog::level::level_enum level, std::string_view message) {
  DefaultLogger()->log(level, spdlog::string_view_t(message.data(), message.size()));
}

}  // namespace

Status InitLogging(const LogOptions& options) {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  return InitLoggingLocked(options);
}

void Debug(std::string_view message) { Log(spdlog::level::debug, message); }
void Info(std::string_view message) { Log(spdlog::level::info, message); }
void Warn(std::string_view message) { Log(spdlog::level::warn, message); }
void Error(std::string_view message) { Log(spdlog::level::err, message); }

void Flush() { DefaultLogger()->flush(); }

LogSettings CurrentLogSettings() {
  spdlog::logger* logger = DefaultLogger();
  std::lock_guard<std::mutex> lock(g_init_mutex);
  return LogSettings{std::string(LevelName(logger->level())), g_format, g_file};
}

Status SetLogLevel(const std::string& level) {
  spdlog::level::level_enum parsed = spdlog::level::info;
  if (!ParseLevel(level, &parsed)) {
    return InvalidArgument("unknown log level '" + level +
                           "'; expected trace, debug, info, warn, error or off");
  }
  DefaultLogger()->set_level(parsed);
  return Status::Ok();
}

}  // namespace modelgrid::logging
