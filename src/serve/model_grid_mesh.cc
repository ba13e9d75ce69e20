// ModelGrid as a KServe ModelMesh serving runtime (server::ModelRuntime, the mmesh SPI):
// models load from the paths ModelMesh names, staged under their ModelMesh ids
// (serve/mesh_source.h), through the same Reconciler as every other load. See model_grid.h.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>

#include "serve/admission.h"
#include "serve/grid_constants.h"
#include "serve/mesh_source.h"
#include "serve/model_grid_parts.h"
#include "serve/model_reader.h"

namespace modelgrid {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
// Predictions remembered (a path and a hash each); all forgotten beyond it.
constexpr size_t kMaxRememberedPredictions = 100'000;

// On the host a model's measured peak is the worker's resident-set growth, which the
// device estimator does not model: loading a TorchScript archive holds its bytes while
// the tensors are built from them (a second copy of the weights at the peak), and the
// first forward pass of a process grows LibTorch's, MKL's and glibc's pools. Measured on
// the test fixtures (tests/modelmesh): resnet18 (45 MiB of weights) peaks at 96-128 MiB
// against a 71 MiB device estimate; models of a few KiB at up to 37 MiB (a small
// transformer, first in a fresh worker).
constexpr uint64_t kHostFirstUseBytes = 48 * kMiB;

// ModelMesh's default size: "most models are smaller". 1 GiB, or a quarter of the
// capacity on smaller (virtual) devices.
uint64_t DefaultModelSize(uint64_t capacity) { return std::min(kGiB, capacity / 4); }

Status NeedsModelMesh(const GridContext& grid) {
  if (!grid.options.modelmesh) {
    return Status(StatusCode::kUnavailable, "the ModelMesh runtime SPI needs serve --modelmesh");
  }
  if (grid.stopping) return Status(StatusCode::kUnavailable, "the server is shutting down");
  return Status::Ok();
}

// A cheap fingerprint of a model source's files (names, sizes, modification times; the
// folder's and its version folders' entries): a prediction is reused while it holds.
std::string SourceFingerprint(const std::string& path, const std::string& config_text) {
  std::string out = config_text;
  std::error_code ec;
  auto add = [&](const fs::path& p) {
    const auto size = fs::file_size(p, ec);
    const auto time = fs::last_write_time(p, ec).time_since_epoch().count();
    out += "|" + p.string() + ":" + std::to_string(ec ? 0 : size) + "@" + std::to_string(time);
  };
  if (!fs::is_directory(path, ec)) {
    add(path);
    return out;
  }
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) add(e.path());
    if (!e.is_directory(ec)) continue;
    for (const auto& f : fs::directory_iterator(e.path(), ec)) {
      if (f.is_regular_file(ec)) add(f.path());
    }
  }
  return out;
}

// The size a model will be charged on `device`, from its staged folder: what serving it
// would reserve (every instance; a TorchScript model's activations come from the
// estimator's sandboxed dry run, never from code run here), plus the host's load-time
// allowance on the host, plus a context per process of its own. Remembered per source
// fingerprint, so only the first prediction of a model waits for the estimator.
Result<uint64_t> Predict(const GridContext& grid, MeshState& mesh, const std::string& model_id,
                         const ConfigOverride& staged, const std::string& model_path) {
  const std::string key =
      model_path + "#" +
      std::to_string(std::hash<std::string>{}(SourceFingerprint(model_path, staged.text)));
  {
    MutexLock lock(&mesh.mu);
    if (auto it = mesh.predicted.find(key); it != mesh.predicted.end()) return it->second;
  }
  const Device& device = grid.devices.front();
  MG_ASSIGN_OR_RETURN(ModelRequest request,
                      RequestForGrid(grid, staged.repository + "/" + model_id, staged.config));
  uint64_t one = request.footprint_bytes;
  if (device.host) one += (one - request.transient_bytes) + kHostFirstUseBytes;
  const InstanceSpread spread = SpreadOf(request, staged.config);
  const uint64_t size = (one * static_cast<uint64_t>(spread.per_device) +
                         (spread.own_worker ? device.context_bytes : 0)) *
                        static_cast<uint64_t>(spread.devices);
  MutexLock lock(&mesh.mu);
  if (mesh.predicted.size() >= kMaxRememberedPredictions) mesh.predicted.clear();
  mesh.predicted[key] = size;
  return size;
}

}  // namespace

void ModelGrid::RuntimeStatus(std::function<void(Result<server::RuntimeInfo>)> done) {
  Parts* p = parts_.get();
  if (Status st = NeedsModelMesh(p->grid); !st.ok()) return done(st);
  int ready = 0, total = 0;
  if (!AllSettled(&ready, &total)) return done(server::RuntimeInfo{});  // STARTING
  p->reconciler->Control([p, done] {
    if (p->grid.stopping) return done(Status(StatusCode::kUnavailable, "shutting down"));
    // The SPI's purge: a ModelMesh that asks again has restarted and knows no model here.
    for (const auto& m : p->registry.Models()) {
      auto unloaded = p->reconciler->Unload(m->served.name);
      if (!unloaded.ok() && unloaded.status().code() != StatusCode::kNotFound) {
        return done(unloaded.status().WithContext("purging " + m->served.name));
      }
      RemoveStagedModel(p->mesh.stage, m->served.name);
    }
    {
      MutexLock lock(&p->mesh.mu);
      p->mesh.charged.clear();
    }
    {
      WriterLock lock(&p->registry.mu);
      p->registry.unplaced.clear();  // failed loads: forgotten with the rest
    }
    server::RuntimeInfo info;
    info.ready = true;
    // What admission would give models now, on every device: its capacity, or less where
    // the measured free memory is less (another process on the GPU), less one shared
    // worker's context.
    for (const DeviceState& d : p->observer->DeviceStates(p->observer->Measure())) {
      const uint64_t free = FreeBytes(d);
      const uint64_t context = d.has_shared_worker ? 0 : d.context_bytes;
      info.capacity_bytes += free > context ? free - context : 0;
    }
    // Loads run one at a time on the control thread.
    info.max_loading_concurrency = 1;
    info.model_loading_timeout_ms = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(grid_constants::kLoadTimeout)
            .count());
    info.default_model_size_bytes = DefaultModelSize(info.capacity_bytes);
    info.runtime_version = std::string("modelgrid-") + MODELGRID_VERSION;
    done(info);
  });
}

Result<uint64_t> ModelGrid::PredictModelSize(const server::RuntimeModelSource& source) {
  Parts* p = parts_.get();
  MG_RETURN_IF_ERROR(NeedsModelMesh(p->grid));
  // Staged apart from loads (which stage on the control thread), so a prediction never
  // touches a loaded model's links.
  static std::atomic<uint64_t> counter{0};
  const std::string stage = p->mesh.stage + "/.predict-" + std::to_string(++counter);
  auto staged = StageModelSource(stage, source);
  if (!staged.ok()) return staged.status();
  auto predicted = Predict(p->grid, p->mesh, source.model_id, *staged, source.model_path);
  std::error_code ec;
  fs::remove_all(stage, ec);
  if (!predicted.ok()) return InvalidArgument(predicted.status().message());
  return predicted;
}

void ModelGrid::LoadRuntimeModel(const server::RuntimeModelSource& source,
                                 std::function<void(Result<uint64_t>)> done) {
  Parts* p = parts_.get();
  if (Status st = NeedsModelMesh(p->grid); !st.ok()) return done(st);
  p->reconciler->Control([p, source, done] {
    if (p->grid.stopping) return done(Status(StatusCode::kUnavailable, "shutting down"));
    const std::string& id = source.model_id;
    // Everything before Load is a check: failing it attempted nothing (kInvalidArgument,
    // as the SPI asks, whatever the cause).
    auto staged = StageModelSource(p->mesh.stage, source);
    if (!staged.ok()) return done(InvalidArgument(staged.status().message()));
    auto predicted = Predict(p->grid, p->mesh, id, *staged, source.model_path);
    if (!predicted.ok()) {
      RemoveStagedModel(p->mesh.stage, id);
      return done(InvalidArgument(predicted.status().message()));
    }
    auto loaded = p->reconciler->Load(id, &*staged);
    if (!loaded.ok()) {
      bool still_served = false;
      {
        ReaderLock lock(&p->registry.mu);
        still_served = p->registry.models.count(id) > 0;  // an earlier version serves on
      }
      if (!still_served) RemoveStagedModel(p->mesh.stage, id);
      return done(loaded.status());
    }
    uint64_t charged = *predicted;
    {
      ReaderLock lock(&p->registry.mu);
      auto it = p->registry.models.find(id);
      if (it != p->registry.models.end()) {
        const Model& m = *it->second;
        const uint64_t copies = m.placements(p->registry.mu).size();
        const uint64_t own =
            m.isolation == Isolation::kProcess ? p->grid.devices.front().context_bytes : 0;
        charged = std::max({charged, (m.planned_bytes + own) * copies,
                            (m.measured_peak_bytes.load() + own) * copies});
      }
    }
    {
      MutexLock lock(&p->mesh.mu);
      p->mesh.charged[id] = charged;
    }
    done(charged);
  });
}

void ModelGrid::UnloadRuntimeModel(const std::string& model_id, std::function<void(Status)> done) {
  Parts* p = parts_.get();
  if (Status st = NeedsModelMesh(p->grid); !st.ok()) return done(st);
  if (!IsValidModelName(model_id)) return done(Status::Ok());  // never loaded: nothing to do
  p->reconciler->Control([p, model_id, done] {
    if (p->grid.stopping) return done(Status(StatusCode::kUnavailable, "shutting down"));
    auto unloaded = p->reconciler->Unload(model_id);
    {
      MutexLock lock(&p->mesh.mu);
      p->mesh.charged.erase(model_id);
    }
    RemoveStagedModel(p->mesh.stage, model_id);
    {
      WriterLock lock(&p->registry.mu);
      p->registry.unplaced.erase(model_id);  // a failed load's record goes with it
    }
    // Unknown (never loaded, failed, or unloaded already) is what the SPI calls done.
    if (!unloaded.ok() && unloaded.status().code() != StatusCode::kNotFound) {
      return done(unloaded.status());
    }
    done(Status::Ok());
  });
}

Result<uint64_t> ModelGrid::RuntimeModelSize(const std::string& model_id) {
  Parts* p = parts_.get();
  MG_RETURN_IF_ERROR(NeedsModelMesh(p->grid));
  MutexLock lock(&p->mesh.mu);
  auto it = p->mesh.charged.find(model_id);
  if (it == p->mesh.charged.end()) return NotFound("model " + model_id + " is not loaded");
  return it->second;
}

}  // namespace modelgrid
