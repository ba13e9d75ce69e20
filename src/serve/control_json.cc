// The JSON answers of model control (see the endpoints in server/inference_service.h).
#include <nlohmann/json.hpp>

#include "serve/control_results.h"

namespace modelgrid {

using nlohmann::json;

namespace {

json Bytes(const std::optional<uint64_t>& b) { return b ? json(*b) : json(nullptr); }

json Where(const InstanceWhere& w) { return {{"device", w.device}, {"worker", w.worker}}; }

}  // namespace

json ToJson(const LoadResult& r) {
  if (r.unchanged) return {{"model", r.model}, {"state", "READY"}, {"changed", false}};
  json instances = json::array();
  for (const auto& i : r.instances)
    instances.push_back({{"worker", i.worker}, {"device", i.device}});
  return {{"model", r.model},
          {"version", std::to_string(r.version)},
          {"state", "READY"},
          {"changed", r.changed},
          {"device", r.instances.front().device},
          {"worker", r.instances.front().worker},
          {"new_worker", r.new_worker},
          {"instances", instances},
          {"instances_wanted", r.instances_wanted},
          {"instances_per_device", r.instances_per_device},
          {"notes", r.notes},
          {"estimated_bytes", r.estimated_bytes},
          {"planned_bytes", r.planned_bytes},
          {"planned_from", r.planned_from_measurement ? "measurement" : "estimate"},
          {"measured_peak_bytes", r.measured_peak_bytes},
          {"replaced_freed_bytes", Bytes(r.replaced_freed_bytes)},
          {"load_seconds", r.load_seconds}};
}

json ToJson(const MoveResult& r) {
  return {{"model", r.model},
          {"from", Where(r.from)},
          {"to", Where(r.to)},
          {"freed_bytes", Bytes(r.freed_bytes)},
          {"seconds", r.seconds}};
}

json ToJson(const ReplanResult& r) {
  json out = {{"strategy", r.strategy},
              {"dry_run", r.dry_run},
              {"fragmentation_before", r.fragmentation_before},
              {"workers_before", r.workers_before},
              {"devices_before", r.devices_before},
              {"devices_after", r.devices_after},
              {"workers_after", r.workers_after}};
  json moves = json::array();
  for (const auto& m : r.moves) {
    moves.push_back({{"model", m.model}, {"from", m.from}, {"device", m.device}});
  }
  out["moves"] = moves;
  if (!r.note.empty()) out["note"] = r.note;
  if (!r.executed) return out;
  json moved = json::array(), failed = json::array();
  for (const auto& m : r.moved) moved.push_back(ToJson(m));
  for (const auto& f : r.failed) failed.push_back({{"model", f.model}, {"error", f.error}});
  out["moved"] = moved;
  out["failed"] = failed;
  out["fragmentation_after"] = r.fragmentation_after;
  return out;
}

json ToJson(const UnloadResult& r) {
  json out = {{"model", r.model},
              {"state", "UNAVAILABLE"},
              {"reason", "unloaded"},
              {"drained", true},  // always: the unload waits for the last request
              {"worker", r.worker},
              {"worker_stopped", !r.stopped_workers.empty()},
              {"stopped_workers", r.stopped_workers},
              {"planned_bytes", r.planned_bytes},
              {"freed_bytes", Bytes(r.freed_bytes)}};
  if (r.replan) out["replan"] = ToJson(*r.replan);
  if (!r.replan_error.empty()) out["replan"] = {{"error", r.replan_error}};
  return out;
}

}  // namespace modelgrid
