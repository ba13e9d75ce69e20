#include "serve/request_path.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>

#include "ipc/shm_layout.h"
#include "serve/classification.h"
#include "serve/tier_manager.h"

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
    variable = variable || o.dtype == TensorDType::kBytes;  // elements of any length
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
  auto admitted = Admit(std::move(request));
  if (!admitted.ok()) return done(admitted.status());
  auto [m, p] = std::move(admitted).value();
  if (m->instance.decoupled) {
    return done(InvalidArgument("model '" + m->served.name +
                                "' is decoupled (it may answer a request several times): use "
                                "gRPC ModelStreamInfer or HTTP generate_stream"));
  }
  p.done = std::move(done);
  if (m->batcher) {
    m->batcher->Submit(std::move(p));
    return;
  }
  std::vector<PendingInfer> group;
  group.push_back(std::move(p));
  Execute(m, std::move(group));
}

void RequestPath::InferStream(server::InferRequest request, Each each) {
  auto admitted = Admit(std::move(request));
  if (!admitted.ok()) return each(admitted.status(), true);
  auto [m, p] = std::move(admitted).value();
  if (!m->instance.decoupled) {
    p.done = [each](Result<server::InferResponse> r) { each(std::move(r), true); };
    if (m->batcher) {
      m->batcher->Submit(std::move(p));
      return;
    }
  } else {
    p.stream = std::move(each);  // no batcher: a decoupled model's requests run alone
  }
  std::vector<PendingInfer> group;
  group.push_back(std::move(p));
  Execute(m, std::move(group));
}

Result<std::pair<Model*, PendingInfer>> RequestPath::Admit(server::InferRequest request) {
  MG_ASSIGN_OR_RETURN(auto found, registry_.Find(request.model, request.version));
  Model* m = found.get();
  // Taken before the state check: an unload sets kUnloading, closes `requests` and waits
  // for the tickets, so no request can reach the model after that wait.
  InFlight::Ticket ticket = m->requests.Enter();
  if (!ticket) {
    return Status(StatusCode::kUnavailable, "model '" + m->served.name + "' is unloading");
  }
  if (m->state != ModelState::kReady || grid_.stopping) {
    return Status(StatusCode::kUnavailable,
                  "model '" + m->served.name + "' is " +
                      (m->state == ModelState::kUnloading ? "unloading" : "not ready"));
  }
  for (const auto& [key, value] : request.parameters.items()) {
    if (key != "binary_data_output" && m->instance.backend != "python") {
      return InvalidArgument("the request's parameters: \"" + key +
                             "\" is not supported by model '" + m->served.name +
                             "' (custom parameters go to Python models)");
    }
  }
  for (const auto& t : request.inputs) {
    auto dtype = ParseTensorDType(t.datatype);
    if (!dtype.ok()) return dtype.status().WithContext("input '" + t.name + "'");
  }
  int64_t batch = 1;
  if (m->instance.max_batch_size > 0) {
    if (request.inputs.empty() || request.inputs[0].shape.empty()) {
      return InvalidArgument("model '" + m->served.name +
                             "' batches along dimension 0: inputs need a batch dimension");
    }
    batch = request.inputs[0].shape[0];
    for (const auto& t : request.inputs) {
      if (t.shape.empty() || t.shape[0] != batch) {
        return InvalidArgument("input '" + t.name + "' has batch " +
                               (t.shape.empty() ? "none" : std::to_string(t.shape[0])) +
                               ", input '" + request.inputs[0].name + "' has " +
                               std::to_string(batch));
      }
    }
    if (batch < 1) {
      return InvalidArgument("model '" + m->served.name + "' needs a batch of at least 1");
    }
    if (batch > m->instance.max_batch_size) {
      return InvalidArgument("batch " + std::to_string(batch) + " exceeds max_batch_size " +
                             std::to_string(m->instance.max_batch_size) + " of model '" +
                             m->served.name + "'");
    }
  }
  PendingInfer p{std::move(request), batch, NowNs(), nullptr, std::move(ticket), nullptr};
  return std::make_pair(m, std::move(p));
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

// The byte offset where each of the `total` samples of `o` (batched along dimension 0)
// begins, and its end: fixed-size types by arithmetic, BYTES by walking the elements.
Result<std::vector<size_t>> SampleBounds(const server::Tensor& o, int64_t total) {
  const Status unbatched = Internal("output '" + o.name + "' is not batched along dimension 0");
  if (o.shape.empty() || o.shape[0] != total) return unbatched;
  std::vector<size_t> bounds(static_cast<size_t>(total) + 1, 0);
  if (o.datatype != "BYTES") {
    if (o.data.size() % static_cast<size_t>(total) != 0) return unbatched;
    const size_t per_sample = o.data.size() / static_cast<size_t>(total);
    for (size_t i = 0; i < bounds.size(); ++i) bounds[i] = i * per_sample;
    return bounds;
  }
  const int64_t per_sample = ShapeElementCount(o.shape) / total;
  const auto* data = reinterpret_cast<const uint8_t*>(o.data.data());
  size_t pos = 0;
  for (int64_t sample = 0; sample < total; ++sample) {
    bounds[static_cast<size_t>(sample)] = pos;
    for (int64_t e = 0; e < per_sample; ++e) {
      if (o.data.size() - pos < 4) return unbatched;
      const uint32_t len = LoadU32LE(data + pos);
      if (len > o.data.size() - pos - 4) return unbatched;
      pos += 4 + len;
    }
  }
  if (pos != o.data.size()) return unbatched;
  bounds.back() = pos;
  return bounds;
}

// A request's custom parameters as a JSON object, or "" when it has none.
std::string CustomParameters(const server::InferRequest& r) {
  nlohmann::json custom = r.parameters;
  if (custom.is_object()) custom.erase("binary_data_output");
  return custom.is_object() && !custom.empty() ? custom.dump() : "";
}

// Appends to `inputs` a BYTES [requests] tensor `name` of `field` of each request of the
// group, serialised into `storage` (which must outlive the call), when any is non-empty.
// False when there was something to add but the message has no room for another tensor.
template <typename Field>
bool AddPerRequestBytes(std::string_view name, const std::vector<PendingInfer>& group,
                        std::string* storage, std::vector<CallTensor>* inputs, Field field) {
  std::vector<std::string> values;
  bool any = false;
  for (const auto& p : group) {
    values.push_back(field(p.request));
    any = any || !values.back().empty();
  }
  if (!any) return true;
  if (inputs->size() >= ipc::kMaxTensorsPerMessage) return false;
  for (const auto& v : values) AppendBytesElement(storage, v);
  inputs->push_back({std::string(name),
                     static_cast<uint8_t>(ipc::WireDType::kBytes),
                     {static_cast<int64_t>(group.size())},
                     storage->data(),
                     storage->size()});
  return true;
}

// A worker's outputs as KServe tensors (their bytes moved out).
Result<std::vector<server::Tensor>> KServeOutputs(std::vector<ReplyTensor>& outputs) {
  std::vector<server::Tensor> tensors;
  for (auto& out : outputs) {
    MG_ASSIGN_OR_RETURN(TensorDType dtype, TensorDTypeFromWire(out.wire_dtype));
    tensors.push_back(
        {out.name, std::string(TensorDTypeName(dtype)), out.shape, std::move(out.data)});
  }
  return tensors;
}

// Reads kRequestErrorsTensor into `failed` (one Status per request of the batch).
Status RequestErrors(const server::Tensor& errors, std::vector<Status>* failed) {
  const auto* data = reinterpret_cast<const uint8_t*>(errors.data.data());
  if (errors.datatype != "BYTES" || errors.shape.size() != 1 ||
      errors.shape[0] != static_cast<int64_t>(failed->size()) ||
      BytesElementCount(data, errors.data.size()) != errors.shape[0]) {
    return Internal("the worker's per-request errors do not match the batch");
  }
  size_t pos = 0;
  for (Status& st : *failed) {
    const uint32_t len = LoadU32LE(data + pos);
    const std::string text = errors.data.substr(pos + 4, len);
    pos += 4 + len;
    if (text.empty()) continue;
    const size_t tab = text.find('\t');
    st = tab == std::string::npos
             ? Status(StatusCode::kInternal, text)
             : Status(StatusCodeFromName(text.substr(0, tab)), text.substr(tab + 1));
  }
  return Status::Ok();
}

}  // namespace

void RequestPath::Execute(Model* m, std::vector<PendingInfer> group) {
  const uint64_t dispatched_ns = NowNs();
  std::vector<server::InferRequest*> requests;
  for (auto& p : group) requests.push_back(&p.request);
  // A Python model learns which outputs its requests asked for: one batch asks for one set.
  const bool python = m->instance.backend == "python";
  auto same_outputs = [&] {
    for (const auto* r : requests) {
      if (r->requested_outputs != requests.front()->requested_outputs) return false;
    }
    return true;
  };
  if (group.size() > 1 && (!Batchable(requests) || (python && !same_outputs()))) {
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
  // A backend that hands the model each request (Python) learns where each one's rows are
  // (when a message has room for one more tensor; else it sees one request).
  std::vector<int64_t> batches;
  if (group.size() > 1 && m->instance.backend == "python" &&
      inputs.size() < ipc::kMaxTensorsPerMessage) {
    for (const auto& p : group) batches.push_back(p.batch);
    inputs.push_back({std::string(kRequestBatchesTensor),
                      static_cast<uint8_t>(ipc::WireDType::kI64),
                      {static_cast<int64_t>(batches.size())},
                      batches.data(),
                      batches.size() * sizeof(int64_t)});
  }
  // ... and each request's custom parameters and id, when any has some. Parameters that
  // cannot travel fail the requests; an id that cannot is still in the response.
  std::string ids, parameters, requested;  // serialised BYTES
  if (python) {
    if (!AddPerRequestBytes(kRequestParametersTensor, group, &parameters, &inputs,
                            [](const server::InferRequest& r) { return CustomParameters(r); })) {
      for (auto& p : group) {
        Complete(m, p,
                 InvalidArgument("model '" + m->served.name + "' takes " +
                                 std::to_string(first.size()) + " inputs: a worker message (" +
                                 std::to_string(ipc::kMaxTensorsPerMessage) +
                                 " tensors) has no room for the request's parameters"));
      }
      return;
    }
    (void)AddPerRequestBytes(kRequestIdsTensor, group, &ids, &inputs,
                             [](const server::InferRequest& r) { return r.id; });
    // Without room, requested_output_names() is empty: the model returns every output and
    // the front end still sends only those asked for.
    (void)AddPerRequestBytes(
        kRequestedOutputsTensor, group, &requested, &inputs, [](const server::InferRequest& r) {
          return r.requested_outputs.empty() ? std::string()
                                             : nlohmann::json(r.requested_outputs).dump();
        });
  }
  const uint64_t response_bytes =
      ResponseBytes(m->instance, total, input_bytes, m->output_bytes_per_sample.load(),
                    grid_.options.shm.arena_bytes);
  // The placement requests go to now; a move switches it and waits for these to finish.
  // A model in the host-memory tier that is not resident waits for its swap-in, and the
  // group runs from the start again then.
  std::shared_ptr<Placement> placement;
  Result<InFlight::Ticket> entered = InFlight::Ticket();
  const bool tiered = m->tiered && tiers_;
  // Moving the vector keeps its elements, so `inputs` still points into them.
  std::shared_ptr<std::vector<PendingInfer>> held;
  if (tiered) held = std::make_shared<std::vector<PendingInfer>>(std::move(group));
  {
    ReaderLock lock(&registry_.mu);
    placement = Route(m->placements(registry_.mu));
    if (placement && tiered) {
      entered = tiers_->EnterOrWait(m, *placement, [this, m, held](Status swapped) {
        if (swapped.ok()) return Execute(m, std::move(*held));
        for (auto& p : *held) Complete(m, p, swapped);
      });
      if (entered.ok() && !*entered) return;  // waits for its swap-in: `held` runs it then
    } else if (placement) {
      entered = placement->requests.Enter();
    }
  }
  if (tiered) group = std::move(*held);
  if (!placement || !entered.ok()) {
    const Status why = !placement ? Status(StatusCode::kUnavailable,
                                           "model '" + m->served.name + "' is not placed")
                                  : entered.status();
    for (auto& p : group) Complete(m, p, why);
    return;
  }
  const InFlight::Ticket placement_ticket = *entered;
  m->UpdateStats([&](InferStats& s) {
    for (const auto& p : group) s.queue_ns += dispatched_ns - p.started_ns;
  });
  auto shared = std::make_shared<std::vector<PendingInfer>>(std::move(group));
  if (shared->front().stream) {  // a decoupled model's request, alone
    // A worker's exit fails the call (final) on another thread than the one delivering a
    // part: one at a time, and nothing after the final one.
    auto order = std::make_shared<std::pair<std::mutex, bool>>();
    placement->worker->channel->CallStream(
        static_cast<uint8_t>(ipc::Op::kInfer), placement->slot, inputs, response_bytes,
        [this, m, placement_ticket, shared, dispatched_ns, order](
            std::optional<Result<Reply>> reply, bool final) {
          std::lock_guard<std::mutex> lock(order->first);
          if (order->second) return;
          order->second = final;
          if (final) {
            m->UpdateStats([&](InferStats& s) {
              s.executions += 1;
              s.compute_ns += NowNs() - dispatched_ns;
            });
          }
          StreamReply(m, shared->front(), std::move(reply), final);
        });
    return;
  }
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
  auto converted = KServeOutputs(reply->outputs);
  if (!converted.ok()) {
    for (auto& p : group) Complete(m, p, converted.status());
    return;
  }
  std::vector<server::Tensor> outputs = std::move(converted).value();
  // Requests of the batch that failed alone (kRequestErrorsTensor), by position.
  std::vector<Status> failed(group.size());
  for (auto it = outputs.begin(); it != outputs.end(); ++it) {
    if (it->name != kRequestErrorsTensor) continue;
    Status st = RequestErrors(*it, &failed);
    if (!st.ok()) {
      for (auto& p : group) Complete(m, p, st);
      return;
    }
    outputs.erase(it);
    break;
  }
  if (group.size() == 1) {
    if (!failed[0].ok()) return Complete(m, group[0], failed[0]);
    return Complete(m, group[0], std::move(outputs));
  }
  // Where each sample of each output starts in its bytes (bounds[k][total] = the end).
  std::vector<std::vector<size_t>> bounds;
  for (const auto& o : outputs) {
    auto b = SampleBounds(o, total);
    if (!b.ok()) {
      for (auto& p : group) Complete(m, p, b.status());
      return;
    }
    bounds.push_back(std::move(b).value());
  }
  int64_t offset = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    PendingInfer& p = group[i];
    if (!failed[i].ok()) {
      offset += p.batch;
      Complete(m, p, failed[i]);
      continue;
    }
    std::vector<server::Tensor> mine;
    Status st;
    for (size_t k = 0; k < outputs.size(); ++k) {
      const server::Tensor& o = outputs[k];
      const size_t begin = bounds[k][static_cast<size_t>(offset)];
      const size_t end = bounds[k][static_cast<size_t>(offset + p.batch)];
      server::Tensor t{o.name, o.datatype, o.shape, o.data.substr(begin, end - begin)};
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

void RequestPath::StreamReply(Model* m, PendingInfer& p, std::optional<Result<Reply>> reply,
                              bool final) {
  std::optional<Result<std::vector<server::Tensor>>> outputs;
  if (reply && !reply->ok()) outputs = reply->status();
  if (reply && reply->ok()) outputs = KServeOutputs((*reply)->outputs);
  if (!final) {
    if (outputs) p.stream(Respond(m, p, std::move(*outputs)), false);
    return;
  }
  if (outputs) return Complete(m, p, std::move(*outputs));
  // The model ended the request without a last response.
  const uint64_t elapsed = NowNs() - p.started_ns;
  m->UpdateStats([&](InferStats& s) {
    s.success += 1;
    s.success_ns += elapsed;
    s.inferences += static_cast<uint64_t>(p.batch);
    s.last_inference_ms = WallMs();
  });
  p.stream(std::nullopt, true);
  p.ticket.reset();  // last: the model may go away once its last ticket does
}

Result<server::InferResponse> RequestPath::Respond(Model* m, const PendingInfer& p,
                                                   Result<std::vector<server::Tensor>> outputs) {
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
  return response;
}

void RequestPath::Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs) {
  Result<server::InferResponse> response = Respond(m, p, std::move(outputs));
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
  if (p.stream) {
    p.stream(std::move(response), true);
  } else {
    p.done(std::move(response));
  }
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
