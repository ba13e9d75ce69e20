#include "perf/levels.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace modelgrid::perf {

namespace {

constexpr size_t kMaxLevels = 1000;

bool ParseNumber(std::string_view text, double* value) {
  if (text.empty()) return false;
  const std::string s(text);
  char* end = nullptr;
  *value = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*value);
}

}  // namespace

Result<std::vector<double>> ParseLevels(std::string_view text, bool integers) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("bad range \"" + std::string(text) + "\": " + why +
                           " (expected V, START:END, START:END:xFACTOR or START:END:STEP)");
  };
  std::vector<std::string_view> parts;
  size_t from = 0;
  while (true) {
    const size_t colon = text.find(':', from);
    parts.push_back(text.substr(from, colon == std::string_view::npos ? colon : colon - from));
    if (colon == std::string_view::npos) break;
    from = colon + 1;
  }
  if (parts.size() > 3) return bad("too many ':'");
  double start = 0, end = 0;
  if (!ParseNumber(parts[0], &start)) return bad("not a number");
  end = start;
  if (parts.size() >= 2 && !ParseNumber(parts[1], &end)) return bad("not a number");
  for (double v : {start, end}) {
    if (integers && (v < 1 || v != std::floor(v))) return bad("levels must be whole numbers >= 1");
    if (!(v > 0)) return bad("levels must be > 0");
  }
  if (end < start) return bad("END is below START");
  bool multiply = true;
  double step = 2;
  if (parts.size() == 3) {
    std::string_view s = parts[2];
    multiply = !s.empty() && (s.front() == 'x' || s.front() == '*');
    if (multiply) s.remove_prefix(1);
    if (!ParseNumber(s, &step)) return bad("bad step");
    if (multiply && !(step > 1)) return bad("the factor must be > 1");
    if (!multiply && !(step > 0)) return bad("the step must be > 0");
    if (!multiply && integers && step != std::floor(step)) return bad("the step must be whole");
  }
  std::vector<double> levels;
  for (double v = start; v < end; v = multiply ? v * step : v + step) {
    if (levels.size() >= kMaxLevels) return bad("more than 1000 levels");
    const double level = integers ? std::round(v) : v;
    if (levels.empty() || levels.back() != level) levels.push_back(level);
  }
  if (levels.empty() || levels.back() != end) levels.push_back(end);
  return levels;
}

}  // namespace modelgrid::perf
