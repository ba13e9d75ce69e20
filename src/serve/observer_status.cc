// /v2/modelgrid/status: devices, workers and models from a GridSnapshot.
#include <nlohmann/json.hpp>

#include "ipc/heartbeat.h"
#include "serve/observer.h"

namespace modelgrid {

using nlohmann::json;

namespace {

json OptionalBytes(const std::optional<uint64_t>& bytes) {
  return bytes ? json(*bytes) : json(nullptr);
}

}  // namespace

json RenderStatus(const GridSnapshot& s, const GridContext& grid) {
  json out;
  out["server"] = {
      {"name", "modelgrid"},
      {"version", MODELGRID_VERSION},
      {"uptime_s", static_cast<double>(ipc::MonotonicNowMs() - grid.started_ms) / 1000.0},
      {"model_control_mode", ModelControlModeName(grid.options.model_control)},
      {"strategy", grid.options.strategy},
      {"ready", s.ready}};
  std::vector<std::optional<uint64_t>> device_used(grid.devices.size());
  for (const auto& wk : s.workers) {
    auto& used = device_used[static_cast<size_t>(wk.device)];
    if (wk.memory_bytes) used = used.value_or(0) + *wk.memory_bytes;
  }
  out["devices"] = json::array();
  for (const DeviceState& d : s.devices) {
    int count = 0;
    for (const auto& wk : s.workers) count += wk.device == d.index;
    const Device& dev = grid.device(d.index);
    out["devices"].push_back(
        {{"device", dev.label},
         {"runtime", dev.runtime},
         {"name", dev.name},
         {"capacity_bytes", d.capacity_bytes},
         {"planned_bytes", d.planned_bytes},
         {"used_bytes", OptionalBytes(device_used[static_cast<size_t>(d.index)])},
         {"free_bytes", FreeBytes(d)},
         {"workers", count}});
  }
  out["workers"] = json::array();
  for (const auto& wk : s.workers) {
    out["workers"].push_back({{"name", wk.name},
                              {"device", grid.device(wk.device).label},
                              {"pid", wk.pid},
                              {"isolated", wk.isolated},
                              {"execution_threads", wk.execution_threads},
                              {"up", wk.up},
                              {"restarts", wk.restarts},
                              {"budget_bytes", wk.budget_bytes},
                              {"memory_bytes", OptionalBytes(wk.memory_bytes)},
                              {"models", wk.models}});
  }
  out["models"] = json::array();
  for (const auto& v : s.models) {
    const Model& m = *v.model;
    json instances = json::array();
    for (const auto& [worker, device] : v.instances) {
      instances.push_back({{"worker", worker}, {"device", grid.device(device).label}});
    }
    const uint64_t measured = m.measured_peak_bytes.load();
    out["models"].push_back(
        {{"name", m.served.name},
         {"version", std::to_string(m.served.version)},
         {"state", ModelStateName(v.state)},
         {"worker", v.instances.empty() ? "" : v.instances.front().first},
         {"device", v.instances.empty() ? "" : grid.device(v.instances.front().second).label},
         {"instances", instances},
         {"instances_wanted", m.instances},
         {"instances_per_device", m.instances_per_device},
         {"estimated_bytes", m.estimated_bytes},
         {"planned_bytes", m.planned_bytes},
         {"transient_bytes", m.transient_bytes},
         {"measured_bytes", measured ? json(measured) : json(nullptr)},
         {"tier", TierName(v.tier)},
         {"parkable", v.tiered},
         {"swap_ins", v.stats.swap_ins},
         {"swap_outs", v.stats.swap_outs},
         {"success", v.stats.success},
         {"failure", v.stats.failure},
         {"inferences", v.stats.inferences},
         {"last_error", v.last_error}});
  }
  // Models the repository has that could not be served, with why.
  for (const auto& [name, why] : s.unplaced) {
    out["models"].push_back(
        {{"name", name}, {"version", nullptr}, {"state", "UNAVAILABLE"}, {"last_error", why}});
  }
  out["fragmentation"] = Fragmentation(s.devices);
  if (s.host_cache_bytes > 0) {
    out["host_cache"] = {{"capacity_bytes", s.host_cache_bytes},
                         {"parked_bytes", ParkedBytes(s)},
                         {"wait_ms", grid.options.host_cache_wait_ms}};
  }
  return out;
}

}  // namespace modelgrid
