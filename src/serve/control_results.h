// What model control did, as values: the Reconciler returns these, the facade turns them
// into the JSON answers of the repository and ModelGrid endpoints (ToJson).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace modelgrid {

struct InstanceWhere {
  std::string worker;
  std::string device;  // its label
};

struct LoadResult {
  std::string model;
  int64_t version = 0;
  bool unchanged = false;  // already READY with the same files: nothing was done
  bool changed = false;    // a new version or files replaced a loaded one
  std::vector<InstanceWhere> instances;
  bool new_worker = false;  // the first instance started a worker of its own
  int instances_wanted = 1;
  int instances_per_device = 1;
  std::vector<std::string> notes;  // why instances are missing, if any are
  uint64_t estimated_bytes = 0;
  uint64_t planned_bytes = 0;
  bool planned_from_measurement = false;
  uint64_t measured_peak_bytes = 0;
  std::optional<uint64_t> replaced_freed_bytes;  // what the replaced instances gave back
  double load_seconds = 0;
};

struct MoveResult {
  std::string model;
  InstanceWhere from, to;
  std::optional<uint64_t> freed_bytes;
  double seconds = 0;
};

struct ReplanResult {
  std::string strategy;
  bool dry_run = false;
  double fragmentation_before = 0;
  size_t workers_before = 0, workers_after = 0;
  size_t devices_before = 0, devices_after = 0;
  struct Planned {
    std::string model, from, device;  // device labels
  };
  std::vector<Planned> moves;  // what the plan moves (empty when nothing is worth moving)
  std::string note;            // why nothing moves, when so
  bool executed = false;       // moves were attempted (not a dry run, and worth it)
  std::vector<MoveResult> moved;
  struct Failed {
    std::string model, error;
  };
  std::vector<Failed> failed;
  double fragmentation_after = 0;  // when executed
};

struct UnloadResult {
  std::string model;
  std::string worker;  // of its first instance
  std::vector<std::string> stopped_workers;
  uint64_t planned_bytes = 0;
  std::optional<uint64_t> freed_bytes;
  // The re-plan the unload's fragmentation triggered (--replan-fragmentation), or its error.
  std::optional<ReplanResult> replan;
  std::string replan_error;
};

nlohmann::json ToJson(const LoadResult& r);
nlohmann::json ToJson(const UnloadResult& r);
nlohmann::json ToJson(const MoveResult& r);
nlohmann::json ToJson(const ReplanResult& r);

}  // namespace modelgrid
