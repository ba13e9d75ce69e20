#include "worker/worker_loop.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "ipc/arena.h"
#include "ipc/heartbeat.h"
#include "ipc/message.h"
#include "ipc/ring.h"
#include "ipc/shm_segment.h"
#include "serve/worker_protocol.h"
#include "worker/bls_client.h"
#include "worker/response_streams.h"
#include "worker/slot_scheduler.h"

namespace modelgrid {

namespace {

// Set by SIGUSR1, the server's request to stop: the loop then finishes what it accepted and
// returns, so that every model is unloaded (Python models' finalize runs) before the exit.
std::atomic<bool> g_stop_requested{false};
void OnStopSignal(int) { g_stop_requested.store(true); }

using ipc::Message;
using ipc::Op;

class Worker {
 public:
  Worker(ipc::ShmSegment& segment, Backend& backend, const WorkerLoopOptions& options,
         ResponseStreams& streams)
      : segment_(segment), backend_(backend), options_(options), streams_(streams) {}

  // Handles one validated load, unload or inference and fills `reply`; false when the
  // request answers later instead (a decoupled model's, through ResponseStreams). Runs on
  // the scheduler's threads: a load or unload alone in its slot, inferences up to the
  // slot's instances at once.
  bool Handle(const Message& request, Message* reply, SlotScheduler& scheduler) {
    *reply = ipc::MakeMessage(request.request_id, static_cast<Op>(request.op), request.model_slot);
    reply->response_offset = request.response_offset;
    reply->response_bytes = request.response_bytes;
    reply->reply_doorbell = request.reply_doorbell;
    Status status;
    switch (static_cast<Op>(request.op)) {
      case Op::kLoad:
        status = Load(request, reply, scheduler);
        break;
      case Op::kUnload:
        status = Unload(request.model_slot);
        break;
      case Op::kPark:
      case Op::kUnpark:
        status = Park(request.model_slot, request.op == static_cast<uint8_t>(Op::kPark), reply);
        break;
      case Op::kInfer:
        if (Decoupled(request.model_slot)) {
          InferDecoupled(request);
          return false;
        }
        status = Infer(request, reply);
        break;
      default:
        status = InvalidArgument("unknown op");
        break;
    }
    if (!status.ok()) {
      reply->num_tensors = 0;
      ipc::SetStatus(reply, status);
    }
    return true;
  }

 private:
  // The instances of one slot; `idle` holds those not running now.
  struct Pool {
    std::vector<std::unique_ptr<ModelInstance>> instances;
    std::vector<ModelInstance*> idle;
  };

  Status Load(const Message& request, Message* reply, SlotScheduler& scheduler) {
    if (request.num_tensors != 1) return InvalidArgument("load carries one config tensor");
    if (request.model_slot >= options_.max_model_slots) return OutOfRange("model slot too large");
    MG_ASSIGN_OR_RETURN(
        auto bytes, ipc::TensorBytes(segment_.arena(), segment_.arena_bytes(), request.tensors[0]));
    const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    int copies = 1;
    MG_ASSIGN_OR_RETURN(ModelInstanceConfig config, LoadConfigFromJson(text, &copies));
    config.own_stream = copies > 1;    // side-by-side instances overlap on the GPU
    (void)Unload(request.model_slot);  // a reload replaces the old instances
    // Each instance is loaded and warmed up alone, so each measures its own peak.
    Pool pool;
    MemoryStats largest;
    for (int i = 0; i < copies; ++i) {
      config.instance_name = config.model_name + "_" + std::to_string(i);  // Triton's names
      MG_ASSIGN_OR_RETURN(std::unique_ptr<ModelInstance> instance, backend_.Load(config));
      MG_ASSIGN_OR_RETURN(MemoryStats stats, instance->WarmUp());
      if (stats.peak_bytes >= largest.peak_bytes) largest = stats;
      pool.idle.push_back(instance.get());
      pool.instances.push_back(std::move(instance));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      pools_[request.model_slot] = std::move(pool);
    }
    scheduler.SetConcurrency(request.model_slot, copies);
    std::snprintf(reply->text, sizeof reply->text,
                  "{\"peak_bytes\":%llu,\"weights_bytes\":%llu,\"instances\":%d}",
                  static_cast<unsigned long long>(largest.peak_bytes),
                  static_cast<unsigned long long>(largest.weights_bytes), copies);
    return Status::Ok();
  }

  Status Unload(uint32_t slot) {
    Pool gone;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto it = pools_.find(slot);
      if (it == pools_.end()) return NotFound("no model in slot " + std::to_string(slot));
      // A BLS call may hold an instance (from another slot's thread): it returns it.
      returned_.wait(lock, [&] { return it->second.idle.size() == it->second.instances.size(); });
      gone = std::move(it->second);
      pools_.erase(it);
    }
    gone.instances.clear();
    ::malloc_trim(0);  // hand the freed weights back to the system now
    return Status::Ok();
  }

  // Parks (or unparks) every instance of `slot`; alone in its slot (SlotScheduler), so no
  // inference runs meanwhile. When one fails, those this call moved are moved back, so the
  // slot's instances stay all parked or all not.
  Status Park(uint32_t slot, bool park, Message* reply) {
    std::vector<ModelInstance*> instances;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pools_.find(slot);
      if (it == pools_.end()) return NotFound("no model in slot " + std::to_string(slot));
      for (auto& instance : it->second.instances) instances.push_back(instance.get());
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < instances.size(); ++i) {
      Result<uint64_t> moved = park ? instances[i]->Park() : instances[i]->Unpark();
      if (!moved.ok()) {
        for (size_t k = 0; k < i; ++k) (void)(park ? instances[k]->Unpark() : instances[k]->Park());
        return moved.status();
      }
      bytes += *moved;
    }
    std::snprintf(reply->text, sizeof reply->text, "{\"bytes\":%llu}",
                  static_cast<unsigned long long>(bytes));
    return Status::Ok();
  }

  // A BYTES [1] view named `name` of `text`, serialised into `storage` (which must outlive
  // the view).
  static HostTensorView OneString(std::string_view name, const std::string& text,
                                  std::string* storage) {
    AppendBytesElement(storage, text);
    return {std::string(name),
            TensorDType::kBytes,
            {1},
            reinterpret_cast<const uint8_t*>(storage->data()),
            storage->size()};
  }

  // Takes an idle instance of `slot` for one inference, or null when the slot is empty. An
  // instance that a BLS call holds is waited for (the scheduler counted it as free).
  ModelInstance* Acquire(uint32_t slot) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = pools_.find(slot);
    if (it == pools_.end() || it->second.instances.empty()) return nullptr;
    returned_.wait(lock, [&] { return !it->second.idle.empty(); });
    ModelInstance* instance = it->second.idle.back();
    it->second.idle.pop_back();
    return instance;
  }
  void Return(uint32_t slot, ModelInstance* instance) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pools_[slot].idle.push_back(instance);
    }
    returned_.notify_all();
  }

 public:
  // A BLS call from a model of this worker: runs an idle instance of `call.model` in the
  // caller's thread. Never waits for a busy instance, so a model that calls itself (or a
  // model running beside it that calls back) fails instead of deadlocking (kUnavailable).
  // Nothing when the model does not run in this worker (the server may have it); what the
  // callee answers otherwise, whatever its code.
  std::optional<Result<std::vector<HostTensor>>> CallLocal(const BlsCall& call) {
    uint32_t slot = 0;
    ModelInstance* instance = nullptr;
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [s, pool] : pools_) {
        if (pool.instances.empty()) continue;
        const ModelInstanceConfig& c = pool.instances.front()->config();
        if (c.model_name != call.model || (call.version > 0 && c.model_version != call.version)) {
          continue;
        }
        found = true;
        if (!pool.idle.empty()) {
          slot = s;
          instance = pool.idle.back();
          pool.idle.pop_back();
        }
        break;
      }
    }
    const std::string what = "BLS call to model '" + call.model + "'" +
                             (call.version > 0 ? " version " + std::to_string(call.version) : "");
    if (!found) return std::nullopt;
    if (instance != nullptr && instance->config().decoupled) {
      Return(slot, instance);
      return InvalidArgument(what +
                             ": it is decoupled (it may answer several times), and exec() "
                             "takes one response");
    }
    if (instance == nullptr) {
      return Status(StatusCode::kUnavailable,
                    what +
                        ": every instance of it in this worker is running (a model cannot "
                        "call itself, nor a model that is calling it)");
    }
    // The id and custom parameters travel as the server sends them (backends/backend.h):
    // to a Python model; a TorchScript model takes no parameters.
    std::vector<HostTensorView> inputs = call.inputs;
    std::string id, parameters;
    const bool python = instance->config().backend == "python";
    if (!call.parameters.empty() && !python) {
      Return(slot, instance);
      return InvalidArgument(what +
                             ": it takes no custom request parameters (only Python "
                             "models do)");
    }
    if (python && !call.id.empty()) inputs.push_back(OneString(kRequestIdsTensor, call.id, &id));
    if (!call.parameters.empty()) {
      inputs.push_back(OneString(kRequestParametersTensor, call.parameters, &parameters));
    }
    Result<std::vector<HostTensor>> out = instance->Infer(inputs);
    Return(slot, instance);
    return out;
  }

 private:
  Status Infer(const Message& request, Message* reply) {
    // The scheduler runs no more inferences of a slot than it has instances, and never
    // beside its load or unload, so an instance is free whenever the slot has any.
    ModelInstance* instance = Acquire(request.model_slot);
    if (instance == nullptr) {
      return NotFound("no model in slot " + std::to_string(request.model_slot));
    }
    Status st = RunOn(*instance, request, reply);
    Return(request.model_slot, instance);
    return st;
  }

  bool Decoupled(uint32_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pools_.find(slot);
    return it != pools_.end() && !it->second.instances.empty() &&
           it->second.instances.front()->config().decoupled;
  }

  // A decoupled model's request: its responses go through ResponseStreams, from this call
  // or from the model's threads after it; an error before the final one ends the request.
  void InferDecoupled(const Message& request) {
    std::shared_ptr<ResponseSink> sink = streams_.Open(request);
    ModelInstance* instance = Acquire(request.model_slot);
    Status st = instance == nullptr
                    ? NotFound("no model in slot " + std::to_string(request.model_slot))
                    : Status::Ok();
    if (st.ok()) {
      auto inputs = InputViews(request);
      st = inputs.ok() ? instance->InferDecoupled(*inputs, sink) : inputs.status();
      Return(request.model_slot, instance);
    }
    if (!st.ok()) (void)sink->Send(Result<std::vector<HostTensor>>(st), true);
  }

  Result<std::vector<HostTensorView>> InputViews(const Message& request) {
    std::vector<HostTensorView> inputs;
    for (uint32_t i = 0; i < request.num_tensors; ++i) {
      const ipc::TensorDesc& d = request.tensors[i];
      MG_ASSIGN_OR_RETURN(auto bytes,
                          ipc::TensorBytes(segment_.arena(), segment_.arena_bytes(), d));
      MG_ASSIGN_OR_RETURN(TensorDType dtype, TensorDTypeFromWire(d.dtype));
      HostTensorView v;
      v.name = std::string(ipc::TensorName(d));
      v.dtype = dtype;
      v.shape.assign(d.dims, d.dims + d.ndims);
      v.data = reinterpret_cast<const uint8_t*>(bytes.data());
      v.byte_size = bytes.size();
      inputs.push_back(std::move(v));
    }
    return inputs;
  }

  Status RunOn(ModelInstance& instance, const Message& request, Message* reply) {
    MG_ASSIGN_OR_RETURN(std::vector<HostTensorView> inputs, InputViews(request));
    MG_ASSIGN_OR_RETURN(std::vector<HostTensor> outputs, instance.Infer(inputs));
    return WriteOutputs(segment_, outputs, request, reply);
  }

  ipc::ShmSegment& segment_;
  Backend& backend_;
  const WorkerLoopOptions& options_;
  ResponseStreams& streams_;
  std::mutex mu_;
  std::condition_variable returned_;  // an instance went back to its pool's idle list
  std::map<uint32_t, Pool> pools_;    // guarded by mu_
};

// Gives decoupled requests still streaming (their models' threads sending) up to
// kStreamGraceMs to send their final responses, passing the server's acks on meanwhile;
// any other request is answered kUnavailable (the worker is stopping).
template <typename Answer>
void FinishStreams(ResponseStreams& streams, ipc::RequestRing& requests, uint64_t arena_bytes,
                   const Answer& answer) {
  constexpr uint64_t kStreamGraceMs = 10'000;
  const uint64_t until = ipc::MonotonicNowMs() + kStreamGraceMs;
  while (streams.open() > 0 && ipc::MonotonicNowMs() < until) {
    Message request;
    if (!requests.Pop(&request, 10).ok()) continue;
    if (!ipc::ValidateMessage(request, arena_bytes).ok()) continue;
    if (request.op == static_cast<uint8_t>(Op::kStreamAck)) {
      streams.OnAck(request);
      continue;
    }
    Message reply =
        ipc::MakeMessage(request.request_id, static_cast<Op>(request.op), request.model_slot);
    reply.reply_doorbell = request.reply_doorbell;
    ipc::SetStatus(&reply, Status(StatusCode::kUnavailable, "the worker is stopping"));
    answer(reply);
  }
}

// Writes `metrics` (Backend::CustomMetrics) into the request's response region as the
// reply's one kBytes tensor; kResourceExhausted with response_needed when it has no room.
Status WriteMetrics(ipc::ShmSegment& segment, const std::string& metrics, const Message& request,
                    Message* reply) {
  const uint64_t needed = ipc::RegionWriter::RegionBytesFor({metrics.size()});
  if (needed > request.response_bytes) {
    reply->response_needed = needed;
    return ResourceExhausted("metrics need " + std::to_string(needed) + " bytes");
  }
  ipc::RegionWriter writer(request.response_offset, request.response_bytes);
  MG_ASSIGN_OR_RETURN(uint64_t offset, writer.Allocate(metrics.size()));
  std::memcpy(segment.arena() + offset, metrics.data(), metrics.size());
  return ipc::AddTensor(reply, ipc::WireDType::kBytes, {static_cast<int64_t>(metrics.size())},
                        offset, metrics.size(), "metrics");
}

}  // namespace

int RunWorker(const WorkerLoopOptions& options, Backend& backend, BlsRouter* bls) {
  auto segment = ipc::ShmSegment::Attach(options.shm_fd);
  if (!segment.ok()) {
    std::fprintf(stderr, "worker %s: %s\n", options.name.c_str(),
                 segment.status().ToString().c_str());
    return 3;
  }
  ipc::ShmSegment& seg = **segment;
  ::close(options.shm_fd);  // Attach keeps its own descriptor
  seg.header().worker_pid.store(::getpid());
  seg.header().worker_state.store(static_cast<uint32_t>(ipc::WorkerState::kReady));
  std::atomic<bool> running{true};
  ipc::Heartbeat heartbeat(&seg.header());
  heartbeat.Beat();
  std::thread beater([&] {
    while (running) {
      heartbeat.Beat();
      std::this_thread::sleep_for(std::chrono::milliseconds(options.heartbeat_ms));
    }
  });
  ipc::RequestRing requests = seg.requests();
  ipc::ResponseRing responses = seg.responses();
  std::vector<ipc::Doorbell> doorbells;
  for (int fd : options.doorbell_fds) doorbells.push_back(ipc::Doorbell::Adopt(fd));
  responses.set_doorbells(&doorbells);
  // The response ring has one producer: whichever thread answers holds this.
  std::mutex answer_mu;
  auto answer = [&](const Message& reply) {
    std::lock_guard<std::mutex> lock(answer_mu);
    while (!responses.Push(reply, 1000).ok()) {
      if (responses.corrupt()) break;  // the server reset the segment: nothing to answer
    }
  };
  ResponseStreams streams(seg, answer);
  Worker worker(seg, backend, options, streams);
  // BLS calls: a model of this worker in the caller's thread; any other through the server
  // (which routes it to whichever worker hosts it), when the server gave a socket.
  std::unique_ptr<BlsClient> remote;
  if (options.bls_fd >= 0) remote = std::make_unique<BlsClient>(options.bls_fd);
  if (bls != nullptr) {
    bls->Bind([&worker, &remote, &options](const BlsCall& call) -> Result<std::vector<HostTensor>> {
      if (auto local = worker.CallLocal(call)) return *std::move(local);
      if (!remote) {
        return Status(StatusCode::kUnavailable,
                      "BLS call to model '" + call.model + "': it is not loaded in this worker (" +
                          options.name + "), which has no BLS channel to the server");
      }
      return remote->Call(call);
    });
  }
  std::unique_ptr<SlotScheduler> scheduler;
  scheduler = std::make_unique<SlotScheduler>(options.execution_threads, [&](const Message& r) {
    Message reply;
    if (worker.Handle(r, &reply, *scheduler)) answer(reply);
  });
  int exit_code = 0;
  struct sigaction stop = {};
  stop.sa_handler = OnStopSignal;  // no SA_RESTART: a sleeping Pop wakes up for it
  ::sigemptyset(&stop.sa_mask);
  ::sigaction(SIGUSR1, &stop, nullptr);
  while (true) {
    if (g_stop_requested.load()) {
      scheduler->Drain();
      FinishStreams(streams, requests, seg.arena_bytes(), answer);
      break;
    }
    Message request;
    Status popped = requests.Pop(&request, 100);
    if (popped.code() == StatusCode::kUnavailable) continue;  // idle
    if (!popped.ok()) {
      std::fprintf(stderr, "worker %s: %s\n", options.name.c_str(), popped.ToString().c_str());
      exit_code = 3;
      break;
    }
    Message reply =
        ipc::MakeMessage(request.request_id, static_cast<Op>(request.op), request.model_slot);
    reply.reply_doorbell = request.reply_doorbell;
    if (Status valid = ipc::ValidateMessage(request, seg.arena_bytes()); !valid.ok()) {
      reply.op = static_cast<uint8_t>(Op::kNone);
      ipc::SetStatus(&reply, valid);
      answer(reply);
      continue;
    }
    const auto op = static_cast<Op>(request.op);
    if (op == Op::kPing) {
      answer(reply);
    } else if (op == Op::kMetrics) {
      reply.response_offset = request.response_offset;
      reply.response_bytes = request.response_bytes;
      if (Status st = WriteMetrics(seg, backend.CustomMetrics(), request, &reply); !st.ok()) {
        ipc::SetStatus(&reply, st);
      }
      answer(reply);
    } else if (op == Op::kStreamAck) {
      streams.OnAck(request);
    } else if (op == Op::kShutdown) {
      scheduler->Drain();  // finish what was accepted, then say goodbye
      FinishStreams(streams, requests, seg.arena_bytes(), answer);
      answer(reply);
      break;
    } else {
      scheduler->Submit(request);
    }
  }
  scheduler.reset();                  // waits for requests still running (after a corrupt ring)
  streams.Close();                    // models' threads may send no more
  if (bls != nullptr) bls->Bind({});  // the models' finalize may not call into the others
  seg.header().worker_state.store(static_cast<uint32_t>(ipc::WorkerState::kStopping));
  running = false;
  beater.join();
  return exit_code;
}

}  // namespace modelgrid
