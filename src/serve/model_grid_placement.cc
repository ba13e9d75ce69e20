// ModelGrid placement primitives: the live state of the devices for admission, loading
// an instance into a (new or shared) worker, and releasing one. See model_grid.h.
#include <algorithm>
#include <future>

#include "ipc/shm_layout.h"
#include "serve/model_grid.h"
#include "serve/model_grid_internal.h"

namespace modelgrid {

using grid_internal::kLoadTimeout;
using grid_internal::kStopEmptyWorkerGraceMs;
using grid_internal::kStopUnneededWorkerGraceMs;
using grid_internal::kUnloadConfirmTimeout;
using grid_internal::kWorkerStartTimeout;
using grid_internal::WaitFor;
using nlohmann::json;

std::vector<DeviceState> ModelGrid::DeviceStates(const Usage& usage) const {
  std::vector<DeviceState> states;
  for (const Device& d : devices_) {
    DeviceState s;
    s.index = d.index;
    s.label = d.label;
    s.capacity_bytes = d.capacity_bytes;
    s.context_bytes = d.context_bytes;
    states.push_back(std::move(s));
  }
  {
    ReaderLock lock(&mu_);
    for (const auto& [name, w] : workers_) {
      DeviceState& s = states[static_cast<size_t>(w->device)];
      s.planned_bytes += s.context_bytes + WorkerBudget(*w);
      if (!w->isolated) {
        s.has_shared_worker = true;
        for (const auto& [slot, m] : w->slots) {
          s.shared_transient_bytes =
              std::max(s.shared_transient_bytes, std::min(m->transient_bytes, m->planned_bytes));
        }
      }
    }
  }
  for (DeviceState& s : states) s.measured_free_bytes = MeasuredFreeBytes(s.index, usage);
  return states;
}

Result<std::shared_ptr<ModelGrid::Placement>> ModelGrid::LoadPlaced(const std::shared_ptr<Model>& m,
                                                                    const Admission& admission) {
  std::shared_ptr<Worker> worker;
  bool fresh = false;
  {
    WriterLock lock(&mu_);
    if (!admission.new_worker) {
      for (auto& [name, w] : workers_) {
        if (w->device == admission.device && !w->isolated) worker = w;
      }
    }
    if (!worker) {
      worker = NewWorker(admission.device, m->isolation == Isolation::kProcess, m->served.name);
      if (worker->isolated) worker->execution_threads = m->instances_per_device;
      workers_[worker->name] = worker;
      fresh = true;
    }
  }
  auto forget_worker = [&] {
    if (!fresh) return;
    StopWorker(worker, kStopUnneededWorkerGraceMs);
    WriterLock lock(&mu_);
    workers_.erase(worker->name);
  };
  if (fresh) {
    if (Status st = StartWorker(worker); !st.ok()) {
      forget_worker();
      return st;
    }
    const bool up =
        WaitFor([&] { return worker->loaded_once.load() || stopping_; }, kWorkerStartTimeout);
    if (!up || stopping_) {
      forget_worker();
      return Status(StatusCode::kUnavailable, "worker " + worker->name + " did not start");
    }
  }
  auto placement = std::make_shared<Placement>();
  placement->worker = worker;
  {
    WriterLock lock(&mu_);
    uint32_t slot = 0;
    while (worker->slots.count(slot)) ++slot;
    placement->slot = slot;
    worker->slots[slot] = m;
  }
  m->instance.device = devices_[static_cast<size_t>(admission.device)].runtime;
  auto promise = std::make_shared<std::promise<Result<uint64_t>>>();
  auto future = promise->get_future();
  LoadSlot(worker, placement->slot, m, [promise](Result<uint64_t> r) { promise->set_value(r); });
  Result<uint64_t> loaded =
      future.wait_for(kLoadTimeout) == std::future_status::ready
          ? future.get()
          : Result<uint64_t>(Status(StatusCode::kUnavailable, "the load timed out"));
  if (!loaded.ok()) {
    {
      WriterLock lock(&mu_);
      worker->slots.erase(placement->slot);
    }
    forget_worker();
    return loaded.status();
  }
  return placement;
}

std::optional<uint64_t> ModelGrid::Release(const std::shared_ptr<Placement>& placement) {
  // Routed requests took their tickets under mu_, and the placement left its model under
  // mu_ before this: these are all the requests it will ever have.
  placement->requests.WaitUntilIdle();
  const std::shared_ptr<Worker>& worker = placement->worker;
  const std::optional<uint64_t> before = WorkerMemoryBytes(*worker, MeasureUsage());
  bool last = false;
  {
    WriterLock lock(&mu_);
    worker->slots.erase(placement->slot);
    last = worker->slots.empty();
    if (last) workers_.erase(worker->name);
  }
  if (last) {
    // Nothing left in it: the whole process, and its context, goes back.
    StopWorker(worker, kStopEmptyWorkerGraceMs);
    return before;
  }
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  worker->client->Call(static_cast<uint8_t>(ipc::Op::kUnload), placement->slot, {}, 0,
                       [promise](Result<Reply> r) { promise->set_value(r.status()); });
  if (future.wait_for(kUnloadConfirmTimeout) != std::future_status::ready) {
    log_("warning: worker " + worker->name + " did not confirm an unload");
  }
  const std::optional<uint64_t> after = WorkerMemoryBytes(*worker, MeasureUsage());
  if (!before || !after) return std::nullopt;
  return *before > *after ? *before - *after : 0;
}
}  // namespace modelgrid
