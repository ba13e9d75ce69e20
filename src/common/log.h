// Process-wide logging through spdlog, without exposing spdlog to callers.
//
//   logging::LogOptions options;
//   options.level = "debug";
//   options.format = "json";
//   options.file = "/var/log/modelgrid/serve.log";
//   if (Status s = logging::InitLogging(options); !s.ok()) { ... }
//   logging::Info("loaded model resnet50");   // any text; JSON output escapes it
//   logging::Flush();                          // before exit
//
// Text lines:  2026-11-26T09:00:00.123Z [modelgrid] info: message
// JSON lines:  {"time":"2026-11-26T09:00:00.123Z","level":"info","logger":"modelgrid",
//               "pid":123,"message":"message"}   (one object per line)
// Times are UTC. Level names: trace, debug, info, warn, error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelgrid::logging {

struct LogOptions {
  std::string level = "info";   // trace|debug|info|warn|error|off: the least severe kept
  std::string format = "text";  // text (coloured level on a TTY) | json (one object a line)
  std::string file;             // empty: no file; else appended to, rotated by size
  uint64_t max_file_bytes = uint64_t{64} << 20;  // rotate when the file would pass this
  int max_files = 5;        // rotated files kept (FILE.1.ext .. FILE.N.ext), 1..1000
  bool also_stderr = true;  // also write to stderr
};

// Replaces the process's default spdlog logger (named "modelgrid") with one configured
// by `options`. Warnings and errors are flushed at once; lower levels are buffered for
// the file sink until Flush(). Returns kInvalidArgument, leaving the previous logger in
// place, for an unknown level or format, no destination (no file and no stderr), a zero
// size, a max_files outside 1..1000, or a file that cannot be opened for appending.
// Call at start-up, before other threads log: replacing the logger races with logging.
Status InitLogging(const LogOptions& options);

// Log one message at the given level. `message` is taken literally (no format
// placeholders). Before InitLogging, the default options apply (info, text, stderr).
// Thread-safe.
void Debug(std::string_view message);
void Info(std::string_view message);
void Warn(std::string_view message);
void Error(std::string_view message);

// Writes buffered messages of every sink. Thread-safe.
void Flush();

// What InitLogging set, and the level as changed since: for the logging extension.
struct LogSettings {
  std::string level;   // trace|debug|info|warn|error|off
  std::string format;  // text|json
  std::string file;    // "" when none
};
LogSettings CurrentLogSettings();
// Changes the least severe level kept, at run time. kInvalidArgument for an unknown level.
// Thread-safe.
Status SetLogLevel(const std::string& level);

}  // namespace modelgrid::logging
