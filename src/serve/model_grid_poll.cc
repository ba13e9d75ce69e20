// ModelGrid poll mode: follows the repository's folders as they change. See model_grid.h.
#include <chrono>
#include <set>

#include "serve/model_grid.h"
#include "serve/model_grid_internal.h"

namespace modelgrid {

void ModelGrid::PollRepository() {
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    std::this_thread::sleep_for(grid_internal::kPollTick);
    if (std::chrono::steady_clock::now() < next) continue;
    next = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.poll_interval_ms);
    bool queued = false;
    {
      MutexLock lock(&control_mu_);
      queued = sync_queued_;
      sync_queued_ = true;
    }
    if (!queued) {
      Control([this] {
        {
          MutexLock lock(&control_mu_);
          sync_queued_ = false;
        }
        if (!stopping_) SyncRepository();
      });
    }
  }
}

void ModelGrid::SyncRepository() {
  auto names = ListRepositoryModels(options_.repository);
  if (!names.ok()) {
    log_("warning: poll: " + names.status().message());
    return;
  }
  std::map<std::string, std::shared_ptr<Model>> loaded;
  {
    ReaderLock lock(&mu_);
    loaded = models_;
  }
  for (const auto& name : *names) {
    if (stopping_) return;
    auto served = ReadServedModel(options_.repository, name);
    const std::string sig =
        served.ok() ? RepositorySignature(options_.repository, name, served->version) : "";
    auto it = loaded.find(name);
    if (it != loaded.end() && it->second->signature == sig) continue;
    auto failed = failed_signature_.find(name);
    if (failed != failed_signature_.end() && failed->second == sig) continue;
    if (DoLoad(name).ok()) {
      failed_signature_.erase(name);
    } else {
      failed_signature_[name] = sig;
    }
  }
  const std::set<std::string> present(names->begin(), names->end());
  for (const auto& [name, m] : loaded) {
    if (!present.count(name) && !stopping_) (void)DoUnload(name);
  }
}
}  // namespace modelgrid
