#include "serve/custom_metrics.h"

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

namespace modelgrid {

namespace {

using nlohmann::json;

struct Family {
  std::string type;
  std::string help;
  std::map<server::Labels, double> series;  // labels in name order
};

bool Reserved(const std::string& name) {
  return name.rfind("nv_", 0) == 0 || name.rfind("modelgrid_", 0) == 0;
}

// One reported family into `families`; false when anything about it is invalid.
bool AddFamily(const json& f, std::map<std::string, Family>& families) {
  if (!f.is_object()) return false;
  const json name = f.value("name", json()), type = f.value("type", json());
  const json help = f.value("help", json()), samples = f.value("samples", json());
  if (!name.is_string() || !type.is_string() || !help.is_string() || !samples.is_array()) {
    return false;
  }
  const std::string n = name.get<std::string>(), t = type.get<std::string>();
  if (!server::IsValidMetricName(n) || Reserved(n) || (t != "counter" && t != "gauge")) {
    return false;
  }
  auto [it, fresh] = families.try_emplace(n, Family{t, help.get<std::string>(), {}});
  if (!fresh && it->second.type != t) return false;
  for (const json& s : samples) {
    const json labels = s.is_object() ? s.value("labels", json()) : json();
    const json value = s.is_object() ? s.value("value", json()) : json();
    if (!labels.is_object() || !value.is_number() || !std::isfinite(value.get<double>())) {
      return false;
    }
    server::Labels l;
    for (const auto& [key, v] : labels.items()) {
      if (!v.is_string()) return false;
      l.emplace_back(key, v.get<std::string>());  // names are checked by the writer
    }
    it->second.series[l] += value.get<double>();
  }
  return true;
}

}  // namespace

size_t WriteCustomMetrics(const std::vector<std::string>& reports, server::PrometheusWriter& w) {
  std::map<std::string, Family> families;
  size_t skipped = 0;
  for (const std::string& report : reports) {
    if (report.empty()) continue;
    const json doc = report.size() > kMaxCustomMetricsBytes
                         ? json()
                         : json::parse(report, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_array()) {
      ++skipped;
      continue;
    }
    for (const json& f : doc) skipped += AddFamily(f, families) ? 0 : 1;
  }
  for (const auto& [name, f] : families) {
    w.Family(name, f.type, f.help);
    for (const auto& [labels, value] : f.series) w.Sample(name, labels, value);
  }
  return skipped;
}

}  // namespace modelgrid
