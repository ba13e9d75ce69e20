#include "serve/registry.h"

#include <algorithm>

namespace modelgrid {

Registry::~Registry() {
  WriterLock lock(&mu);
  for (auto& [name, worker] : workers) worker->mutable_slots(mu).clear();
  for (auto& [name, model] : models) model->mutable_placements(mu).clear();
}

Result<std::shared_ptr<Model>> Registry::Find(const std::string& model,
                                              const std::string& version) const {
  ReaderLock lock(&mu);
  auto it = models.find(model);
  if (it == models.end()) return NotFound("unknown model '" + model + "'");
  if (!version.empty() && version != std::to_string(it->second->served.version)) {
    return NotFound("model '" + model + "' has no version '" + version + "' (serving " +
                    std::to_string(it->second->served.version) + ")");
  }
  return it->second;
}

std::vector<std::shared_ptr<Model>> Registry::Models() const {
  ReaderLock lock(&mu);
  std::vector<std::shared_ptr<Model>> out;
  for (const auto& [name, m] : models) out.push_back(m);
  return out;
}

std::vector<std::shared_ptr<Worker>> Registry::Workers() const {
  ReaderLock lock(&mu);
  std::vector<std::shared_ptr<Worker>> out;
  for (const auto& [name, w] : workers) out.push_back(w);
  return out;
}

std::shared_ptr<Worker> Registry::FindProcess(const std::string& process) const {
  for (const auto& [name, w] : workers) {
    if (w->process == process) return w;
  }
  return nullptr;
}

uint32_t Registry::FreeSlot(const Worker& worker) const {
  const Worker::Slots& slots = worker.slots(mu);
  uint32_t slot = 0;
  while (slots.count(slot)) ++slot;
  return slot;
}

bool Registry::AllReady() const {
  ReaderLock lock(&mu);
  return std::all_of(models.begin(), models.end(),
                     [](const auto& entry) { return entry.second->state == ModelState::kReady; });
}

bool Registry::AllSettled(int* ready, int* total) const {
  ReaderLock lock(&mu);
  *ready = 0;
  *total = static_cast<int>(models.size());
  bool settled = true;
  for (const auto& [name, m] : models) {
    const ModelState s = m->state;
    *ready += s == ModelState::kReady;
    settled = settled && (s == ModelState::kReady || s == ModelState::kFailed);
  }
  return settled;
}

std::vector<DeviceState> Registry::PlannedDeviceStates(const std::vector<Device>& devices,
                                                       bool tiered_parked) const {
  std::vector<DeviceState> states;
  for (const Device& d : devices) {
    DeviceState s;
    s.index = d.index;
    s.label = d.label;
    s.capacity_bytes = d.capacity_bytes;
    s.context_bytes = d.context_bytes;
    states.push_back(std::move(s));
  }
  ReaderLock lock(&mu);
  for (const auto& [name, w] : workers) {
    DeviceState& s = states[static_cast<size_t>(w->device)];
    Worker::Slots pinned;  // with tiered_parked: the models the tier never parks
    if (tiered_parked) {
      pinned = w->slots(mu);
      std::erase_if(pinned, [](const auto& slot) { return slot.second->tiered; });
    }
    const Worker::Slots& slots = tiered_parked ? pinned : w->slots(mu);
    s.planned_bytes += s.context_bytes + WorkerBudget(*w, slots);
    if (w->isolated) continue;
    s.has_shared_worker = true;
    for (const auto& [slot, m] : slots) {
      if (m->tiered && !OnDevice(m->tier)) continue;  // parked: nothing on the device
      s.shared_transient_bytes =
          std::max(s.shared_transient_bytes, std::min(m->transient_bytes, m->planned_bytes));
    }
  }
  return states;
}

}  // namespace modelgrid
