#include "server/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace modelgrid::server {

namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsValidType(std::string_view type) {
  return type == "counter" || type == "gauge" || type == "histogram" || type == "summary" ||
         type == "untyped";
}

void AppendEscaped(std::string* out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && escape_quote) {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

// ---- parsing ----

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view SkipBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  return s;
}

// Takes the longest prefix of `*s` made of name characters (':' too when `metric`).
std::string_view TakeName(std::string_view* s, bool metric) {
  size_t n = 0;
  while (n < s->size() && (IsNameChar((*s)[n]) || (metric && (*s)[n] == ':'))) ++n;
  const std::string_view name = s->substr(0, n);
  s->remove_prefix(n);
  return name;
}

// Parses a label value after its opening quote up to and past the closing quote.
bool TakeQuoted(std::string_view* s, std::string* value, std::string* error) {
  while (!s->empty()) {
    const char c = s->front();
    s->remove_prefix(1);
    if (c == '"') return true;
    if (c != '\\') {
      *value += c;
      continue;
    }
    if (s->empty()) break;
    const char e = s->front();
    s->remove_prefix(1);
    if (e == '\\' || e == '"') {
      *value += e;
    } else if (e == 'n') {
      *value += '\n';
    } else {
      *error = std::string("unknown escape \\") + e + " in label value";
      return false;
    }
  }
  *error = "unterminated label value";
  return false;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool ParseValue(std::string_view token, double* value) {
  if (EqualsIgnoreCase(token, "nan")) {
    *value = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  const bool negative = !token.empty() && token.front() == '-';
  std::string_view body = token;
  if (!body.empty() && (body.front() == '+' || body.front() == '-')) body.remove_prefix(1);
  if (EqualsIgnoreCase(body, "inf") || EqualsIgnoreCase(body, "infinity")) {
    *value = negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    return true;
  }
  if (body.empty() || body.front() == '+' || body.front() == '-') return false;
  double parsed = 0;
  const auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), parsed);
  // from_chars also takes "nan(...)" and "inf" spellings handled above; out-of-range
  // magnitudes are errors rather than silent infinities.
  if (ec != std::errc() || ptr != body.data() + body.size() || !std::isfinite(parsed)) {
    return false;
  }
  *value = negative ? -parsed : parsed;
  return true;
}

bool IsTimestamp(std::string_view token) {
  if (!token.empty() && token.front() == '-') token.remove_prefix(1);
  int64_t ts = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), ts);
  return !token.empty() && ec == std::errc() && ptr == token.data() + token.size();
}

// Parses one sample line; returns an empty string or the reason it is malformed.
std::string ParseLine(std::string_view line, PrometheusSample* sample) {
  std::string_view s = line;
  const std::string_view name = TakeName(&s, /*metric=*/true);
  if (!IsValidMetricName(name)) return "expected a metric name";
  sample->name = std::string(name);
  if (const std::string_view after = SkipBlanks(s); !after.empty() && after.front() == '{') {
    s = after.substr(1);
    while (true) {
      s = SkipBlanks(s);
      if (s.empty()) return "unterminated label set";
      if (s.front() == '}') {
        s.remove_prefix(1);
        break;
      }
      const std::string_view label = TakeName(&s, /*metric=*/false);
      if (!IsValidLabelName(label)) return "expected a label name";
      for (const auto& [existing, unused] : sample->labels) {
        if (existing == label) return "label " + std::string(label) + " repeated";
      }
      s = SkipBlanks(s);
      if (s.empty() || s.front() != '=') return "expected '=' after label " + std::string(label);
      s = SkipBlanks(s.substr(1));
      if (s.empty() || s.front() != '"') return "expected '\"' to open a label value";
      s.remove_prefix(1);
      std::string value, error;
      if (!TakeQuoted(&s, &value, &error)) return error;
      sample->labels.emplace_back(std::string(label), std::move(value));
      s = SkipBlanks(s);
      if (!s.empty() && s.front() == ',') {
        s.remove_prefix(1);
      } else if (s.empty() || s.front() != '}') {
        return "expected ',' or '}' after a label value";
      }
    }
  }
  if (s.empty() || !IsBlank(s.front())) return "expected a blank before the value";
  s = SkipBlanks(s);
  size_t end = 0;
  while (end < s.size() && !IsBlank(s[end])) ++end;
  if (!ParseValue(s.substr(0, end), &sample->value)) {
    return "bad value '" + std::string(s.substr(0, end)) + "'";
  }
  s = SkipBlanks(s.substr(end));
  end = 0;
  while (end < s.size() && !IsBlank(s[end])) ++end;
  if (end > 0 && !IsTimestamp(s.substr(0, end))) {
    return "bad timestamp '" + std::string(s.substr(0, end)) + "'";
  }
  if (!SkipBlanks(s.substr(end)).empty()) return "unexpected text after the value";
  return {};
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name) {
    if (!IsNameChar(c) && c != ':') return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0])) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

std::string FormatPrometheusValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (value == std::trunc(value) && std::fabs(value) < kExactIntegers) {
    return std::to_string(static_cast<int64_t>(value));  // -0.0 prints as 0
  }
  char buffer[64];
  const auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc() ? std::string(buffer, ptr) : "NaN";  // 64 chars always suffice
}

void PrometheusWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  if (!IsValidMetricName(name) || !IsValidType(type)) {
    ++dropped_;
    return;
  }
  if (!families_.emplace(name).second) return;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(&out_, help, /*escape_quote=*/false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::Sample(std::string_view name, const Labels& labels, double value) {
  if (!IsValidMetricName(name)) {
    ++dropped_;
    return;
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!IsValidLabelName(labels[i].first)) {
      ++dropped_;
      return;
    }
    for (size_t j = 0; j < i; ++j) {
      if (labels[j].first == labels[i].first) {
        ++dropped_;
        return;
      }
    }
  }
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      AppendEscaped(&out_, labels[i].second, /*escape_quote=*/true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatPrometheusValue(value);
  out_ += '\n';
}

std::string PrometheusWriter::Take() {
  std::string out = std::move(out_);
  out_.clear();
  families_.clear();
  return out;
}

Result<std::vector<PrometheusSample>> ParsePrometheusText(std::string_view text) {
  std::vector<PrometheusSample> samples;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = SkipBlanks(line);
    if (line.empty() || line.front() == '#') continue;
    PrometheusSample sample;
    const std::string error = ParseLine(line, &sample);
    if (!error.empty()) {
      return InvalidArgument("metrics line " + std::to_string(line_number) + ": " + error);
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::optional<double> FindSample(const std::vector<PrometheusSample>& samples,
                                 std::string_view name, const Labels& subset) {
  for (const PrometheusSample& sample : samples) {
    if (sample.name != name) continue;
    bool all = true;
    for (const auto& wanted : subset) {
      bool found = false;
      for (const auto& have : sample.labels) found = found || have == wanted;
      if (!found) {
        all = false;
        break;
      }
    }
    if (all) return sample.value;
  }
  return std::nullopt;
}

}  // namespace modelgrid::server
