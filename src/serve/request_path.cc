#include "serve/request_path.h"

#include <algorithm>
#include <chrono>

#include "ipc/shm_layout.h"
#include "serve/classification.h"

namespace modelgrid {

namespace {

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

void RequestPath::Infer(server::InferRequest request,
                        std::function<void(Result<server::InferResponse>)> done) {
  auto found = registry_.Find(request.model, request.version);
  if (!found.ok()) return done(found.status());
  Model* m = found->get();
  // Taken before the state check: an unload sets kUnloading, closes `requests` and waits
  // for the tickets, so no request can reach the model after that wait.
  InFlight::Ticket ticket = m->requests.Enter();
  if (!ticket) {
    return done(Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is unloading"));
  }
  auto reject = [&](Status st) { done(std::move(st)); };  // the ticket goes with this scope
  if (m->state != ModelState::kReady || grid_.stopping) {
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

void RequestPath::Execute(Model* m, std::vector<PendingInfer> group) {
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
  const uint64_t response_bytes =
      ResponseBytes(m->instance, total, input_bytes, m->output_bytes_per_sample.load(),
                    grid_.options.shm.arena_bytes);
  m->UpdateStats([&](InferStats& s) {
    for (const auto& p : group) s.queue_ns += dispatched_ns - p.started_ns;
  });
  // The placement requests go to now; a move switches it and waits for these to finish.
  std::shared_ptr<Placement> placement;
  InFlight::Ticket placement_ticket;
  {
    ReaderLock lock(&registry_.mu);
    placement = Route(m->placements(registry_.mu));
    if (placement) placement_ticket = placement->requests.Enter();
  }
  if (!placement) {
    for (auto& p : group) {
      Complete(m, p,
               Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is not placed"));
    }
    return;
  }
  auto shared = std::make_shared<std::vector<PendingInfer>>(std::move(group));
  // The callback runs on the worker client's thread: it holds neither the placement nor the
  // worker, only the placement's ticket (Release keeps both until the last ticket goes).
  placement->worker->channel->Call(
      static_cast<uint8_t>(ipc::Op::kInfer), placement->slot, inputs, response_bytes,
      [this, m, placement_ticket, shared, total, dispatched_ns](Result<Reply> reply) {
        m->UpdateStats([&](InferStats& s) {
          s.executions += reply.ok();
          if (reply.ok()) s.compute_ns += NowNs() - dispatched_ns;
        });
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

void RequestPath::RespondGroup(Model* m, std::vector<PendingInfer>& group, int64_t total,
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

void RequestPath::Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs) {
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
  if (response.ok()) {
    // Triton always names the model and version that answered.
    response->model = m->served.name;
    response->version = std::to_string(m->served.version);
    for (auto& t : response->outputs) {
      auto count = p.request.class_counts.find(t.name);
      if (count == p.request.class_counts.end()) continue;
      auto labels = m->labels.find(t.name);
      auto classified =
          Classify(t, count->second, m->instance.max_batch_size > 0,
                   labels == m->labels.end() ? std::vector<std::string>{} : labels->second);
      if (!classified.ok()) {
        response = classified.status();
        break;
      }
      t = std::move(classified).value();
    }
  }
  const uint64_t elapsed = NowNs() - p.started_ns;
  m->UpdateStats([&](InferStats& s) {
    if (response.ok()) {
      s.success += 1;
      s.success_ns += elapsed;
      s.inferences += static_cast<uint64_t>(p.batch);
    } else {
      s.failure += 1;
      s.failure_ns += elapsed;
    }
    s.last_inference_ms = WallMs();
  });
  p.done(std::move(response));
  p.ticket.reset();  // last: the model may go away once its last ticket does
}

void RequestPath::AttachBatcher(const std::shared_ptr<Model>& m) {
  const TritonModelConfig& tc = m->served.config;
  if (!tc.dynamic_batching || tc.max_batch_size <= 1) return;
  BatchingOptions batching{tc.max_batch_size, tc.preferred_batch_sizes,
                           static_cast<uint64_t>(tc.max_queue_delay_microseconds)};
  Model* model = m.get();
  m->batcher = std::make_unique<DynamicBatcher<PendingInfer>>(
      batching,
      [this, model](std::vector<PendingInfer> group) { Execute(model, std::move(group)); });
}

}  // namespace modelgrid
