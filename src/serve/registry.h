// Registry: the models being served, the workers hosting them and the models that could
// not be served, under one reader-writer lock. Requests read it (shared); the control
// thread and the worker pool change it (exclusive), briefly: no call into a worker, the
// file system or a device is made with the lock held.
//
// Thread-safe. The fields are public so that the parts of the core can read and change
// them together under one lock; each is GUARDED_BY(mu), so clang checks every access.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "serve/admission.h"
#include "serve/grid_types.h"

namespace modelgrid {

class Registry {
 public:
  Registry() = default;
  // Workers hold their models (slots) and models their workers (placements); the
  // destructor breaks those cycles, so that what is still served when the core stops is
  // freed with it.
  ~Registry() EXCLUDES(mu);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  mutable SharedMutex mu;
  std::map<std::string, std::shared_ptr<Model>> models GUARDED_BY(mu);
  std::map<std::string, std::shared_ptr<Worker>> workers GUARDED_BY(mu);  // by name
  std::map<std::string, std::string> unplaced GUARDED_BY(mu);             // model -> why not served

  // The model serving `model` at `version` ("" = any); kNotFound naming what is missing.
  Result<std::shared_ptr<Model>> Find(const std::string& model, const std::string& version) const
      EXCLUDES(mu);
  // Copies of the current sets, for reading without the lock.
  std::vector<std::shared_ptr<Model>> Models() const EXCLUDES(mu);
  std::vector<std::shared_ptr<Worker>> Workers() const EXCLUDES(mu);
  // The worker whose launcher key is `process`, or null (a worker already replaced).
  std::shared_ptr<Worker> FindProcess(const std::string& process) const REQUIRES_SHARED(mu);
  // A free slot number in `worker`.
  uint32_t FreeSlot(const Worker& worker) const REQUIRES_SHARED(mu);
  // Whether every model is READY.
  bool AllReady() const EXCLUDES(mu);
  // True once every model is READY or FAILED; `*ready` and `*total` count them.
  bool AllSettled(int* ready, int* total) const EXCLUDES(mu);
  // The devices as admission sees them: capacity, contexts and the planned budgets of the
  // workers on each (no measurement: Observer adds that). `tiered_parked`: as if every
  // model the host-memory tier may park were parked.
  std::vector<DeviceState> PlannedDeviceStates(const std::vector<Device>& devices,
                                               bool tiered_parked = false) const EXCLUDES(mu);
};

}  // namespace modelgrid
