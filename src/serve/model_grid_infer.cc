// ModelGrid as a server::InferenceService: metadata, readiness, statistics, inference.
#include <chrono>
#include <nlohmann/json.hpp>

#include "ipc/shm_layout.h"
#include "serve/model_grid.h"
#include "serve/worker_protocol.h"

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
    out.push_back(
        {{"name", s.name}, {"datatype", std::string(TensorDTypeName(s.dtype))}, {"shape", shape}});
  }
  return out;
}

// Response region for a request: the declared outputs at this batch; with variable dims,
// the most per sample seen so far, or before any reply a guess from the inputs (four times
// their size, but no more than the arena holds beside them). A region that turns out too
// small costs one more run (WorkerClient::Call), not an error.
uint64_t ResponseBytes(const ModelInstanceConfig& config, int64_t batch, uint64_t input_bytes,
                       uint64_t seen_per_sample, uint64_t arena_bytes) {
  const uint64_t slack = ipc::kArenaAlignBytes * ipc::kMaxTensorsPerMessage;
  bool variable = config.outputs.empty();
  for (const auto& o : config.outputs) {
    for (int64_t d : o.dims) variable = variable || d < 0;
  }
  if (!variable) return DeclaredOutputBytes(config, batch) + slack;
  if (seen_per_sample > 0) return seen_per_sample * static_cast<uint64_t>(batch) + slack;
  const uint64_t room =
      arena_bytes > input_bytes + 2 * slack ? arena_bytes - input_bytes - 2 * slack : 0;
  return std::max<uint64_t>(uint64_t{64} << 10, std::min(4 * input_bytes, room));
}

}  // namespace

Result<std::shared_ptr<ModelGrid::Model>> ModelGrid::Find(const std::string& model,
                                                          const std::string& version) const {
  ReaderLock lock(&mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return NotFound("unknown model '" + model + "'");
  if (!version.empty() && version != std::to_string(it->second->served.version)) {
    return NotFound("model '" + model + "' has no version '" + version + "' (serving " +
                    std::to_string(it->second->served.version) + ")");
  }
  return it->second;
}

bool ModelGrid::Ready() {
  if (stopping_) return false;
  ReaderLock lock(&mu_);
  for (const auto& [name, m] : models_) {
    if (m->state != ModelState::kReady) return false;
  }
  return true;
}

Result<json> ModelGrid::ServerMetadata() {
  return json{
      {"name", "modelgrid"},
      {"version", MODELGRID_VERSION},
      {"extensions", {"binary_tensor_data", "statistics", "model_repository", "modelgrid"}}};
}

Result<json> ModelGrid::ModelMetadata(const std::string& model, const std::string& version) {
  MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, Find(model, version));
  return json{{"name", m->served.name},
              {"versions", {std::to_string(m->served.version)}},
              {"platform", "pytorch_libtorch"},
              {"inputs", IoJson(m->instance.inputs, m->instance.max_batch_size)},
              {"outputs", IoJson(m->instance.outputs, m->instance.max_batch_size)}};
}

Result<bool> ModelGrid::ModelReady(const std::string& model, const std::string& version) {
  MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, Find(model, version));
  return m->state == ModelState::kReady && !stopping_;
}

Result<json> ModelGrid::ModelStats(const std::string& model, const std::string& version) {
  std::vector<std::shared_ptr<Model>> selected;
  if (model.empty()) {
    ReaderLock lock(&mu_);
    for (auto& [name, m] : models_) selected.push_back(m);
  } else {
    MG_ASSIGN_OR_RETURN(std::shared_ptr<Model> m, Find(model, version));
    selected.push_back(m);
  }
  json stats = json::array();
  for (const auto& m : selected) {
    std::string failure;
    const Stats s = m->StatsSnapshot(&failure);
    std::string worker, device = "cpu";
    {
      ReaderLock lock(&mu_);
      for (const auto& p : m->placements) {
        worker += (worker.empty() ? "" : ",") + p->worker->name;
        device = devices_[static_cast<size_t>(p->worker->device)].runtime;
      }
    }
    json entry = {{"name", m->served.name},
                  {"version", std::to_string(m->served.version)},
                  {"last_inference", s.last_inference_ms},
                  {"inference_count", s.inferences},
                  {"execution_count", s.executions},
                  {"inference_stats",
                   {{"success", {{"count", s.success}, {"ns", s.success_ns}}},
                    {"fail", {{"count", s.failure}, {"ns", s.failure_ns}}},
                    {"queue", {{"count", s.success + s.failure}, {"ns", s.queue_ns}}},
                    {"compute_input", {{"count", 0}, {"ns", 0}}},
                    {"compute_infer", {{"count", s.executions}, {"ns", s.compute_ns}}},
                    {"compute_output", {{"count", 0}, {"ns", 0}}}}},
                  {"batch_stats", json::array()},
                  {"memory_usage",
                   {{{"type", device == "cpu" ? "CPU" : "GPU"},
                     {"id", 0},
                     {"byte_size", m->measured_peak_bytes.load()}}}},
                  {"modelgrid",
                   {{"worker", worker},
                    {"device", device},
                    {"planned_bytes", m->planned_bytes},
                    {"planned_from", m->planned_from_measurement ? "measurement" : "estimate"},
                    {"measured_peak_bytes", m->measured_peak_bytes.load()},
                    {"state", m->state == ModelState::kReady ? "ready" : "not ready"},
                    {"estimated_bytes", m->estimated_bytes},
                    {"last_error", failure}}}};
    stats.push_back(std::move(entry));
  }
  return json{{"model_stats", stats}};
}

void ModelGrid::Infer(server::InferRequest request,
                      std::function<void(Result<server::InferResponse>)> done) {
  auto found = Find(request.model, request.version);
  if (!found.ok()) return done(found.status());
  Model* m = found->get();
  // Taken before the state check: an unload sets kUnloading, closes `requests` and waits
  // for the tickets, so no request can reach the model after that wait.
  InFlight::Ticket ticket = m->requests.Enter();
  if (!ticket) {
    return done(Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is unloading"));
  }
  auto reject = [&](Status st) { done(std::move(st)); };  // the ticket goes with this scope
  if (m->state != ModelState::kReady || stopping_) {
    return reject(Status(StatusCode::kUnavailable,
                         "model '" + m->served.name + "' is " +
                             (m->state == ModelState::kUnloading ? "unloading" : "not ready")));
  }
  for (const auto& t : request.inputs) {
    auto dtype = ParseTensorDType(t.datatype);
    if (!dtype.ok()) return reject(dtype.status().WithContext("input '" + t.name + "'"));
  }
  int64_t batch = 1;
  if (m->instance.max_batch_size > 0) {
    if (request.inputs.empty() || request.inputs[0].shape.empty()) {
      return reject(InvalidArgument("model '" + m->served.name +
                                    "' batches along dimension 0: inputs need a batch dimension"));
    }
    batch = request.inputs[0].shape[0];
    for (const auto& t : request.inputs) {
      if (t.shape.empty() || t.shape[0] != batch) {
        return reject(InvalidArgument("input '" + t.name + "' has batch " +
                                      (t.shape.empty() ? "none" : std::to_string(t.shape[0])) +
                                      ", input '" + request.inputs[0].name + "' has " +
                                      std::to_string(batch)));
      }
    }
    if (batch < 1) {
      return reject(InvalidArgument("model '" + m->served.name + "' needs a batch of at least 1"));
    }
    if (batch > m->instance.max_batch_size) {
      return reject(InvalidArgument("batch " + std::to_string(batch) + " exceeds max_batch_size " +
                                    std::to_string(m->instance.max_batch_size) + " of model '" +
                                    m->served.name + "'"));
    }
  }
  PendingInfer p{std::move(request), batch, NowNs(), std::move(done), std::move(ticket)};
  if (m->batcher) {
    m->batcher->Submit(std::move(p));
    return;
  }
  std::vector<PendingInfer> group;
  group.push_back(std::move(p));
  Execute(m, std::move(group));
}

namespace {

// True when the requests can run as one batch: same inputs (names, datatypes, dims after
// the batch dimension) in the same order.
bool Batchable(const std::vector<server::InferRequest*>& requests) {
  const auto& first = requests.front()->inputs;
  for (const auto* r : requests) {
    if (r->inputs.size() != first.size()) return false;
    for (size_t i = 0; i < first.size(); ++i) {
      const auto& a = first[i];
      const auto& b = r->inputs[i];
      if (a.name != b.name || a.datatype != b.datatype || a.shape.size() != b.shape.size() ||
          a.shape.empty() || !std::equal(a.shape.begin() + 1, a.shape.end(), b.shape.begin() + 1)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

void ModelGrid::Execute(Model* m, std::vector<PendingInfer> group) {
  const uint64_t dispatched_ns = NowNs();
  std::vector<server::InferRequest*> requests;
  for (auto& p : group) requests.push_back(&p.request);
  if (group.size() > 1 && !Batchable(requests)) {
    for (auto& p : group) {
      std::vector<PendingInfer> alone;
      alone.push_back(std::move(p));
      Execute(m, std::move(alone));
    }
    return;
  }
  // Inputs: the request's own bytes, or each input concatenated along dimension 0.
  int64_t total = 0;
  for (const auto& p : group) total += p.batch;
  const auto& first = group.front().request.inputs;
  std::vector<std::string> joined(group.size() > 1 ? first.size() : 0);
  std::vector<CallTensor> inputs;
  uint64_t input_bytes = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    CallTensor t{first[i].name,
                 static_cast<uint8_t>(WireFromTensorDType(*ParseTensorDType(first[i].datatype))),
                 first[i].shape, first[i].data.data(), first[i].data.size()};
    if (group.size() > 1) {
      for (const auto& p : group) joined[i] += p.request.inputs[i].data;
      t.shape[0] = total;
      t.data = joined[i].data();
      t.bytes = joined[i].size();
    }
    input_bytes += t.bytes;
    inputs.push_back(std::move(t));
  }
  const uint64_t response_bytes = ResponseBytes(
      m->instance, total, input_bytes, m->output_bytes_per_sample.load(), options_.shm.arena_bytes);
  {
    MutexLock lock(&m->stats_mu);
    for (const auto& p : group) m->stats.queue_ns += dispatched_ns - p.started_ns;
  }
  // The placement requests go to now; a move switches it and waits for these to finish.
  std::shared_ptr<Placement> placement;
  InFlight::Ticket placement_ticket;
  {
    ReaderLock lock(&mu_);
    placement = Route(*m);
    if (placement) placement_ticket = placement->requests.Enter();
  }
  if (!placement || !placement->worker->client) {
    for (auto& p : group) {
      Complete(m, p,
               Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is not placed"));
    }
    return;
  }
  auto shared = std::make_shared<std::vector<PendingInfer>>(std::move(group));
  // The callback runs on the worker client's thread: it holds neither the placement nor the
  // worker, only the placement's ticket (Release keeps both until the last ticket goes).
  placement->worker->client->Call(
      static_cast<uint8_t>(ipc::Op::kInfer), placement->slot, inputs, response_bytes,
      [this, m, placement_ticket, shared, total, dispatched_ns](Result<Reply> reply) {
        {
          MutexLock lock(&m->stats_mu);
          m->stats.executions += reply.ok();
          if (reply.ok()) m->stats.compute_ns += NowNs() - dispatched_ns;
        }
        if (reply.ok()) {
          uint64_t bytes = 0;
          for (const auto& out : reply->outputs) bytes += out.data.size();
          const uint64_t per_sample = (bytes + static_cast<uint64_t>(total) - 1) / total;
          uint64_t seen = m->output_bytes_per_sample.load();
          while (per_sample > seen &&
                 !m->output_bytes_per_sample.compare_exchange_weak(seen, per_sample)) {
          }
        }
        RespondGroup(m, *shared, total, std::move(reply));
      });
}

void ModelGrid::RespondGroup(Model* m, std::vector<PendingInfer>& group, int64_t total,
                             Result<Reply> reply) {
  if (!reply.ok()) {
    for (auto& p : group) Complete(m, p, reply.status());
    return;
  }
  // Outputs as KServe tensors, then each request's slice along dimension 0.
  std::vector<server::Tensor> outputs;
  for (auto& out : reply->outputs) {
    auto dtype = TensorDTypeFromWire(out.wire_dtype);
    if (!dtype.ok()) {
      for (auto& p : group) Complete(m, p, dtype.status());
      return;
    }
    outputs.push_back(
        {out.name, std::string(TensorDTypeName(*dtype)), out.shape, std::move(out.data)});
  }
  if (group.size() == 1) return Complete(m, group[0], std::move(outputs));
  int64_t offset = 0;
  for (auto& p : group) {
    std::vector<server::Tensor> mine;
    Status st;
    for (const auto& o : outputs) {
      if (o.shape.empty() || o.shape[0] != total || o.data.size() % total != 0) {
        st = Internal("output '" + o.name + "' is not batched along dimension 0");
        break;
      }
      const size_t per_sample = o.data.size() / static_cast<size_t>(total);
      server::Tensor t{o.name, o.datatype, o.shape,
                       o.data.substr(static_cast<size_t>(offset) * per_sample,
                                     static_cast<size_t>(p.batch) * per_sample)};
      t.shape[0] = p.batch;
      mine.push_back(std::move(t));
    }
    offset += p.batch;
    if (st.ok()) {
      Complete(m, p, std::move(mine));
    } else {
      Complete(m, p, st);
    }
  }
}

void ModelGrid::Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs) {
  Result<server::InferResponse> response = server::InferResponse{};
  if (!outputs.ok()) {
    response = outputs.status();
  } else if (p.request.requested_outputs.empty()) {
    server::InferResponse r;
    r.outputs = std::move(outputs).value();
    response = std::move(r);
  } else {
    server::InferResponse r;
    for (const auto& name : p.request.requested_outputs) {
      auto it = std::find_if(outputs->begin(), outputs->end(),
                             [&](const server::Tensor& t) { return t.name == name; });
      if (it == outputs->end()) {
        response = InvalidArgument("model '" + m->served.name + "' has no output '" + name + "'");
        break;
      }
      r.outputs.push_back(std::move(*it));
    }
    if (response.ok()) response = std::move(r);
  }
  const uint64_t elapsed = NowNs() - p.started_ns;
  {
    MutexLock lock(&m->stats_mu);
    if (response.ok()) {
      m->stats.success += 1;
      m->stats.success_ns += elapsed;
      m->stats.inferences += static_cast<uint64_t>(p.batch);
    } else {
      m->stats.failure += 1;
      m->stats.failure_ns += elapsed;
    }
    m->stats.last_inference_ms = WallMs();
  }
  p.done(std::move(response));
  p.ticket.reset();  // last: the model may go away once its last ticket does
}

}  // namespace modelgrid
