#include "server/logging_extension.h"

#include <optional>

#include "common/log.h"

namespace modelgrid::server {

using nlohmann::json;

namespace {

// Severity flags of a level, Triton's way.
struct Flags {
  bool error = false, warning = false, info = false;
  int verbose = 0;
};

Flags FlagsOf(const std::string& level) {
  Flags f;
  f.verbose = level == "debug" || level == "trace" ? 1 : 0;
  f.info = f.verbose || level == "info";
  f.warning = f.info || level == "warn";
  f.error = f.warning || level == "error";
  return f;
}

// The one level that keeps exactly these severities.
Result<std::string> LevelOf(const Flags& f) {
  if (f.verbose > 0) {
    if (!f.info || !f.warning || !f.error) {
      return InvalidArgument("log_verbose_level > 0 needs log_info, log_warning and log_error");
    }
    return std::string("debug");
  }
  if (f.info) {
    if (!f.warning || !f.error) {
      return InvalidArgument(
          "log_info needs log_warning and log_error: ModelGrid keeps a "
          "severity and everything more severe");
    }
    return std::string("info");
  }
  if (f.warning) {
    if (!f.error) return InvalidArgument("log_warning needs log_error");
    return std::string("warn");
  }
  return std::string(f.error ? "error" : "off");
}

}  // namespace

json LogSettingsJson() {
  const logging::LogSettings s = logging::CurrentLogSettings();
  const Flags f = FlagsOf(s.level);
  return {{"log_file", s.file},
          {"log_info", f.info},
          {"log_warning", f.warning},
          {"log_error", f.error},
          {"log_verbose_level", f.verbose},
          {"log_format", s.format}};
}

Result<json> UpdateLogSettings(const json& request) {
  const logging::LogSettings current = logging::CurrentLogSettings();
  Flags f = FlagsOf(current.level);
  // What the request sets explicitly; the others follow it to stay a threshold.
  std::optional<bool> error, warning, info, verbose;
  for (const auto& [key, value] : request.items()) {
    if (key == "log_info" || key == "log_warning" || key == "log_error") {
      if (!value.is_boolean()) return InvalidArgument("\"" + key + "\" must be a boolean");
      (key == "log_info" ? info : key == "log_warning" ? warning : error) = value.get<bool>();
    } else if (key == "log_verbose_level") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        return InvalidArgument("\"log_verbose_level\" must be a non-negative integer");
      }
      verbose = value.get<int64_t>() > 0;
    } else if (key == "log_file" || key == "log_format") {
      const std::string& now = key == "log_file" ? current.file : current.format;
      if (!value.is_string() || value.get<std::string>() != now) {
        return InvalidArgument("\"" + key + "\" cannot change while the server runs (it is \"" +
                               now + "\"; set it with --log-" +
                               (key == "log_file" ? "file" : "format") + ")");
      }
    } else {
      return InvalidArgument("logging setting \"" + key + "\" is not supported");
    }
  }
  // Switching a severity off switches off the less severe ones the request does not
  // mention; switching one on switches on the more severe ones. Explicit settings that
  // contradict each other are refused by LevelOf.
  if (error == false) {
    warning = warning.value_or(false);
  }
  if (warning == false) info = info.value_or(false);
  if (info == false) verbose = verbose.value_or(false);
  if (verbose == true) info = info.value_or(true);
  if (info == true) warning = warning.value_or(true);
  if (warning == true) error = error.value_or(true);
  f.error = error.value_or(f.error);
  f.warning = warning.value_or(f.warning);
  f.info = info.value_or(f.info);
  if (verbose) f.verbose = *verbose ? 1 : 0;
  MG_ASSIGN_OR_RETURN(std::string level, LevelOf(f));
  MG_RETURN_IF_ERROR(logging::SetLogLevel(level));
  return LogSettingsJson();
}

}  // namespace modelgrid::server
