// ModelGrid as a server::InferenceService: metadata, readiness, statistics, inference.
#include <chrono>
#include <nlohmann/json.hpp>

#include "ipc/shm_layout.h"
#include "serve/model_grid.h"
#include "serve/worker_protocol.h"

#ifndef MODELGRID_VERSION
#define MODELGRID_VERSION "0.1.0"
#endif

namespace modelgrid {

namespace {

using nlohmann::json;

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

json IoJson(const std::vector<IoSpec>& specs, int64_t max_batch_size) {
  json out = json::array();
  for (const auto& s : specs) {
    std::vector<int64_t> shape;
    if (max_batch_size > 0) shape.push_back(-1);
    shape.insert(shape.end(), s.dims.begin(), s.dims.end());
    out.push_back({{"name", s.name},
                   {"datatype", std::string(KServeFromTensorDType(s.dtype))},
                   {"shape", shape}});
  }
  return out;
}

// Response region for a request: the declared outputs at this batch, or a generous
// default when outputs have variable dims.
uint64_t ResponseBytes(const ModelInstanceConfig& config, int64_t batch, uint64_t input_bytes) {
  bool variable = config.outputs.empty();
  for (const auto& o : config.outputs) {
    for (int64_t d : o.dims) variable = variable || d < 0;
  }
  const uint64_t declared = variable ? 0 : DeclaredOutputBytes(config, batch);
  const uint64_t fallback = std::max<uint64_t>(uint64_t{4} << 20, 4 * input_bytes);
  return variable ? fallback : declared + 64 * ipc::kMaxTensorsPerMessage;
}

}  // namespace

Result<ModelGrid::Model*> ModelGrid::Find(const std::string& model,
                                          const std::string& version) const {
  auto it = models_.find(model);
  if (it == models_.end()) return NotFound("unknown model '" + model + "'");
  if (!version.empty() && version != std::to_string(it->second->served.version)) {
    return NotFound("model '" + model + "' has no version '" + version + "' (serving " +
                    std::to_string(it->second->served.version) + ")");
  }
  return it->second.get();
}

bool ModelGrid::Ready() {
  if (stopping_) return false;
  for (const auto& [name, m] : models_) {
    if (m->state != ModelState::kReady) return false;
  }
  return true;
}

Result<json> ModelGrid::ServerMetadata() {
  return json{{"name", "modelgrid"},
              {"version", MODELGRID_VERSION},
              {"extensions", {"binary_tensor_data", "statistics"}}};
}

Result<json> ModelGrid::ModelMetadata(const std::string& model, const std::string& version) {
  MG_ASSIGN_OR_RETURN(Model * m, Find(model, version));
  return json{{"name", m->served.name},
              {"versions", {std::to_string(m->served.version)}},
              {"platform", "pytorch_libtorch"},
              {"inputs", IoJson(m->instance.inputs, m->instance.max_batch_size)},
              {"outputs", IoJson(m->instance.outputs, m->instance.max_batch_size)}};
}

Result<bool> ModelGrid::ModelReady(const std::string& model, const std::string& version) {
  MG_ASSIGN_OR_RETURN(Model * m, Find(model, version));
  return m->state == ModelState::kReady && !stopping_;
}

Result<json> ModelGrid::ModelStats(const std::string& model, const std::string& version) {
  std::vector<Model*> selected;
  if (model.empty()) {
    for (auto& [name, m] : models_) selected.push_back(m.get());
  } else {
    MG_ASSIGN_OR_RETURN(Model * m, Find(model, version));
    selected.push_back(m);
  }
  json stats = json::array();
  for (Model* m : selected) {
    Stats s;
    std::string failure;
    {
      std::lock_guard<std::mutex> lock(m->stats_mu);
      s = m->stats;
      failure = m->failure;
    }
    const Worker& w = *workers_.at(m->worker);
    json entry = {{"name", m->served.name},
                  {"version", std::to_string(m->served.version)},
                  {"last_inference", s.last_inference_ms},
                  {"inference_count", s.inferences},
                  {"execution_count", s.success},
                  {"inference_stats",
                   {{"success", {{"count", s.success}, {"ns", s.success_ns}}},
                    {"fail", {{"count", s.failure}, {"ns", s.failure_ns}}},
                    {"queue", {{"count", 0}, {"ns", 0}}},
                    {"compute_input", {{"count", 0}, {"ns", 0}}},
                    {"compute_infer", {{"count", s.success}, {"ns", s.success_ns}}},
                    {"compute_output", {{"count", 0}, {"ns", 0}}}}},
                  {"batch_stats", json::array()},
                  {"memory_usage",
                   {{{"type", w.device == "cpu" ? "CPU" : "GPU"},
                     {"id", 0},
                     {"byte_size", m->measured_peak_bytes.load()}}}},
                  {"modelgrid",
                   {{"worker", m->worker},
                    {"device", w.device},
                    {"planned_bytes", m->planned_bytes},
                    {"planned_from", m->planned_from_measurement ? "measurement" : "estimate"},
                    {"measured_peak_bytes", m->measured_peak_bytes.load()},
                    {"state", m->state == ModelState::kReady ? "ready" : "not ready"},
                    {"last_error", failure}}}};
    stats.push_back(std::move(entry));
  }
  return json{{"model_stats", stats}};
}

void ModelGrid::Infer(server::InferRequest request,
                      std::function<void(Result<server::InferResponse>)> done) {
  auto found = Find(request.model, request.version);
  if (!found.ok()) return done(found.status());
  Model* m = *found;
  if (m->state != ModelState::kReady || stopping_) {
    return done(Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is not ready"));
  }
  std::vector<CallTensor> inputs;
  uint64_t input_bytes = 0;
  for (const auto& t : request.inputs) {
    auto dtype = TensorDTypeFromKServe(t.datatype);
    if (!dtype.ok()) return done(dtype.status().WithContext("input '" + t.name + "'"));
    inputs.push_back({t.name, static_cast<uint8_t>(WireFromTensorDType(*dtype)), t.shape,
                      t.data.data(), t.data.size()});
    input_bytes += t.data.size();
  }
  const int64_t batch =
      m->instance.max_batch_size > 0 && !request.inputs.empty() && !request.inputs[0].shape.empty()
          ? std::max<int64_t>(1, request.inputs[0].shape[0])
          : 1;
  if (m->instance.max_batch_size > 0 && batch > m->instance.max_batch_size) {
    return done(InvalidArgument("batch " + std::to_string(batch) + " exceeds max_batch_size " +
                                std::to_string(m->instance.max_batch_size) + " of model '" +
                                m->served.name + "'"));
  }
  const uint64_t response_bytes = ResponseBytes(m->instance, batch, input_bytes);
  const uint64_t started = NowNs();
  auto finish = [this, m, started, batch, request = std::move(request),
                 done = std::move(done)](Result<Reply> reply) mutable {
    const uint64_t elapsed = NowNs() - started;
    Result<server::InferResponse> response = server::InferResponse{};
    if (reply.ok()) {
      server::InferResponse r;
      for (auto& out : reply->outputs) {
        auto dtype = TensorDTypeFromWire(out.wire_dtype);
        if (!dtype.ok()) {
          response = dtype.status();
          break;
        }
        r.outputs.push_back(
            {out.name, std::string(KServeFromTensorDType(*dtype)), out.shape, std::move(out.data)});
      }
      if (response.ok() && !request.requested_outputs.empty()) {
        std::vector<server::Tensor> selected;
        for (const auto& name : request.requested_outputs) {
          auto it = std::find_if(r.outputs.begin(), r.outputs.end(),
                                 [&](const server::Tensor& t) { return t.name == name; });
          if (it == r.outputs.end()) {
            response =
                InvalidArgument("model '" + m->served.name + "' has no output '" + name + "'");
            break;
          }
          selected.push_back(std::move(*it));
        }
        r.outputs = std::move(selected);
      }
      if (response.ok()) response = std::move(r);
    } else {
      response = reply.status();
    }
    {
      std::lock_guard<std::mutex> lock(m->stats_mu);
      if (response.ok()) {
        m->stats.success += 1;
        m->stats.success_ns += elapsed;
        m->stats.inferences += static_cast<uint64_t>(batch);
      } else {
        m->stats.failure += 1;
        m->stats.failure_ns += elapsed;
      }
      m->stats.last_inference_ms = WallMs();
    }
    done(std::move(response));
  };
  workers_.at(m->worker)->client->Call(static_cast<uint8_t>(ipc::Op::kInfer), m->slot, inputs,
                                       response_bytes, std::move(finish));
}

}  // namespace modelgrid
