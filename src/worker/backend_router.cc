#include "worker/backend_router.h"

namespace modelgrid {

void BackendRouter::Add(const std::string& name, Factory factory) {
  MutexLock lock(&mu_);
  backends_[name].factory = std::move(factory);
}

Result<std::unique_ptr<ModelInstance>> BackendRouter::Load(const ModelInstanceConfig& config) {
  Backend* backend = nullptr;
  {
    MutexLock lock(&mu_);
    auto it = backends_.find(config.backend);
    if (it == backends_.end()) {
      std::string built;
      for (const auto& [name, entry] : backends_) built += (built.empty() ? "" : ", ") + name;
      return Unsupported("backend '" + config.backend + "' is not built into modelgrid-worker (" +
                         (built.empty() ? "none is" : built + " are") + ")");
    }
    if (!it->second.backend) it->second.backend = it->second.factory();
    backend = it->second.backend.get();
  }
  return backend->Load(config);  // backends are thread-safe; loads may overlap
}

std::string BackendRouter::CustomMetrics() {
  std::vector<Backend*> made;
  {
    MutexLock lock(&mu_);
    for (auto& [name, entry] : backends_) {
      if (entry.backend) made.push_back(entry.backend.get());
    }
  }
  std::string joined;
  for (Backend* backend : made) {
    std::string text = backend->CustomMetrics();
    // Each is "[...]": join the elements of all of them into one array.
    const size_t open = text.find('['), close = text.rfind(']');
    if (open == std::string::npos || close == std::string::npos || close <= open + 1) continue;
    joined += (joined.empty() ? "" : ",") + text.substr(open + 1, close - open - 1);
  }
  return joined.empty() ? "" : "[" + joined + "]";
}

}  // namespace modelgrid
