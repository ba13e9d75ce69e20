// BackendRouter: the worker's one Backend, which hands each load to the backend its config
// names ("pytorch", "python"), so that models of every backend share one worker process
// (and, on a GPU, one CUDA context). A backend is created on its first load: a worker that
// serves only TorchScript never starts a Python interpreter.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "backends/backend.h"
#include "common/mutex.h"

namespace modelgrid {

class BackendRouter final : public Backend {
 public:
  using Factory = std::function<std::unique_ptr<Backend>()>;

  // Registers backend `name`; call before the first Load.
  void Add(const std::string& name, Factory factory);

  // Loads with the backend named by config.backend. kUnsupported naming it (and those
  // built in) when this worker was built without it.
  Result<std::unique_ptr<ModelInstance>> Load(const ModelInstanceConfig& config) override;
  std::string Name() const override { return "router"; }
  // The backends' custom metrics, their JSON arrays joined into one ("" when none has any).
  std::string CustomMetrics() override;

 private:
  struct Entry {
    Factory factory;
    std::unique_ptr<Backend> backend;  // made on first use
  };
  Mutex mu_;
  std::map<std::string, Entry> backends_ GUARDED_BY(mu_);
};

}  // namespace modelgrid
