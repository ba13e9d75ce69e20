#include "serve/model_reader.h"

#include <algorithm>
#include <functional>

#include "common/byte_reader.h"
#include "estimate/estimator.h"
#include "plan/manifest.h"

namespace modelgrid {

namespace {

// A label file: one line per class; ImageNet's 1000 labels are 30 KiB.
constexpr uint64_t kMaxLabelFileBytes = uint64_t{16} << 20;

}  // namespace

Result<ModelRequest> RequestForGrid(const GridContext& grid, const std::string& dir,
                                    const TritonModelConfig& config) {
  ManifestOptions manifest;
  const Device& first = grid.devices.front();
  manifest.gpu = first.host ? kHostDevice : first.name;
  return ModelRequestFromTriton(dir, config, manifest);
}

InstanceSpread SpreadOf(const ModelRequest& request, const TritonModelConfig& config) {
  InstanceSpread s;
  s.devices = static_cast<int>(std::max<int64_t>({1, request.replicas, config.instance_gpus}));
  s.per_device =
      static_cast<int>(std::clamp<int64_t>(config.instances_per_device, 1, kMaxSlotInstances));
  s.own_worker = request.isolation == Isolation::kProcess || s.per_device > 1;
  return s;
}

Result<std::shared_ptr<Model>> ReadModel(const GridContext& grid, const std::string& name,
                                         const ConfigOverride* override) {
  const std::string& repo =
      override && !override->repository.empty() ? override->repository : grid.options.repository;
  MG_ASSIGN_OR_RETURN(ServedModel served, ReadServedModel(repo, name, override));
  for (const auto& w : served.warnings) grid.log("warning: " + w);
  // Estimates are for the device: the host ("cpu", and the virtual devices of "cpu:SPEC")
  // has no CUDA workspaces, caching allocator or CUDA context.
  const Device& first = grid.devices.front();
  MG_ASSIGN_OR_RETURN(ModelRequest request, RequestForGrid(grid, repo + "/" + name, served.config));
  auto m = std::make_shared<Model>();
  m->served = std::move(served);
  const TritonModelConfig& tc = m->served.config;
  const InstanceSpread spread = SpreadOf(request, tc);
  m->instances = spread.devices;
  m->instances_per_device = spread.per_device;
  m->isolation = spread.own_worker ? Isolation::kProcess : Isolation::kShared;
  if (tc.instances_per_device > kMaxSlotInstances) {
    grid.log("warning: model " + name + " asks for " + std::to_string(tc.instances_per_device) +
             " instances per device; serving " + std::to_string(kMaxSlotInstances));
  }
  m->latency_sensitive = request.latency_sensitive;
  m->estimated_bytes = m->planned_bytes = request.footprint_bytes;
  // The reuse of transient memory between a shared worker's models is the CUDA caching
  // allocator's. On the host, glibc keeps much of what a forward pass freed, per model:
  // 400 small models planned at 23% of a 2 GiB device with shared transients measured 167%
  // (scripts/density.py), so host workers count whole footprints.
  m->transient_bytes = first.host ? 0 : request.transient_bytes;
  m->signature = RepositorySignature(repo, m->served);
  if (override) {
    m->signature += "|config:" + std::to_string(std::hash<std::string>{}(override->text));
    m->files = override->files;
  }
  if (auto digest = FileDigest(m->served.model_path); digest.ok()) m->digest = *digest;
  if (!m->digest.empty() && m->served.config.backend == "python") {
    // What a Python model holds comes from initialize, which reads its config and files:
    // a measurement is that model's (its name and config), not any model.py's like it.
    auto config = FileDigest(repo + "/" + name + "/config.pbtxt");
    m->digest += "|python:" + name + "|" + (config.ok() ? *config : "auto-completed");
  }
  // A measured peak from an earlier load beats the estimate; a memory_bytes parameter (the
  // operator's override) beats both.
  const bool overridden = m->served.config.parameters.count("memory_bytes") > 0;
  if (auto measured = grid.store->Get(FootprintKeyFor(*m, first.name)); measured && !overridden) {
    // The measurement replaces the estimate; the estimate's split between resident and
    // transient bytes carries over in proportion.
    m->transient_bytes = static_cast<uint64_t>(static_cast<double>(m->transient_bytes) *
                                               static_cast<double>(*measured) /
                                               static_cast<double>(m->planned_bytes));
    m->transient_bytes = std::min(m->transient_bytes, *measured);
    m->planned_bytes = *measured;
    m->planned_from_measurement = true;
  }
  // Per device: every instance whole (they may all run at once).
  const uint64_t copies = static_cast<uint64_t>(m->instances_per_device);
  m->estimated_bytes *= copies;
  m->planned_bytes *= copies;
  m->transient_bytes *= copies;
  // Labels for the classification extension, from the model folder (as Triton reads them).
  for (const auto& out : m->served.config.outputs) {
    if (out.label_filename.empty()) continue;
    if (out.label_filename.find('/') != std::string::npos || out.label_filename == "..") {
      return InvalidArgument("model " + name + ": label_filename '" + out.label_filename +
                             "' must be a file in the model folder");
    }
    auto text = ReadSmallFile(repo + "/" + name + "/" + out.label_filename, kMaxLabelFileBytes);
    if (!text.ok()) return text.status().WithContext("model " + name + " output " + out.name);
    std::vector<std::string>& labels = m->labels[out.name];
    size_t start = 0;
    while (start < text->size()) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      std::string line = text->substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      labels.push_back(std::move(line));
      start = end + 1;
    }
  }
  // The device is each worker's (WorkerPool::LoadSlot sets it per load).
  MG_ASSIGN_OR_RETURN(m->instance,
                      InstanceConfigFromTriton(m->served.config, m->served.model_path, "cpu", 0));
  m->instance.model_name = m->served.name;
  m->instance.model_version = m->served.version;
  return m;
}

}  // namespace modelgrid
