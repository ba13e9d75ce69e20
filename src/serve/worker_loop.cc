#include "serve/worker_loop.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "ipc/arena.h"
#include "ipc/heartbeat.h"
#include "ipc/message.h"
#include "ipc/ring.h"
#include "ipc/shm_segment.h"
#include "serve/worker_protocol.h"

namespace modelgrid {

namespace {

using ipc::Message;
using ipc::Op;

class Worker {
 public:
  Worker(ipc::ShmSegment& segment, Backend& backend, const WorkerLoopOptions& options)
      : segment_(segment), backend_(backend), options_(options) {}

  // Handles one validated request and fills `reply`. Returns false for kShutdown.
  bool Handle(const Message& request, Message* reply) {
    *reply = ipc::MakeMessage(request.request_id, static_cast<Op>(request.op), request.model_slot);
    reply->response_offset = request.response_offset;
    reply->response_bytes = request.response_bytes;
    reply->reply_doorbell = request.reply_doorbell;
    Status status;
    switch (static_cast<Op>(request.op)) {
      case Op::kPing:
        break;
      case Op::kShutdown:
        return false;
      case Op::kLoad:
        status = Load(request, reply);
        break;
      case Op::kUnload:
        if (instances_.erase(request.model_slot) == 0) {
          status = NotFound("no model in slot " + std::to_string(request.model_slot));
        }
        ::malloc_trim(0);  // hand the freed weights back to the system now
        break;
      case Op::kInfer:
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
  Status Load(const Message& request, Message* reply) {
    if (request.num_tensors != 1) return InvalidArgument("load carries one config tensor");
    if (request.model_slot >= options_.max_model_slots) return OutOfRange("model slot too large");
    MG_ASSIGN_OR_RETURN(
        auto bytes, ipc::TensorBytes(segment_.arena(), segment_.arena_bytes(), request.tensors[0]));
    const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    MG_ASSIGN_OR_RETURN(ModelInstanceConfig config, LoadConfigFromJson(text));
    instances_.erase(request.model_slot);  // a reload replaces the old instance
    MG_ASSIGN_OR_RETURN(std::unique_ptr<ModelInstance> instance, backend_.Load(config));
    MG_ASSIGN_OR_RETURN(MemoryStats stats, instance->WarmUp());
    instances_[request.model_slot] = std::move(instance);
    std::snprintf(reply->text, sizeof reply->text, "{\"peak_bytes\":%llu,\"weights_bytes\":%llu}",
                  static_cast<unsigned long long>(stats.peak_bytes),
                  static_cast<unsigned long long>(stats.weights_bytes));
    return Status::Ok();
  }

  Status Infer(const Message& request, Message* reply) {
    auto it = instances_.find(request.model_slot);
    if (it == instances_.end()) {
      return NotFound("no model in slot " + std::to_string(request.model_slot));
    }
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
    MG_ASSIGN_OR_RETURN(std::vector<HostTensor> outputs, it->second->Infer(inputs));
    if (outputs.size() > ipc::kMaxTensorsPerMessage) {
      return OutOfRange("model returned " + std::to_string(outputs.size()) +
                        " outputs; at most 8 are supported");
    }
    std::vector<uint64_t> sizes;
    for (const HostTensor& out : outputs) sizes.push_back(out.data.size());
    const uint64_t needed = ipc::RegionWriter::RegionBytesFor(sizes);
    if (needed > request.response_bytes) {
      reply->response_needed = needed;
      return ResourceExhausted("outputs need " + std::to_string(needed) +
                               " bytes but the response region has " +
                               std::to_string(request.response_bytes));
    }
    ipc::RegionWriter writer(request.response_offset, request.response_bytes);
    for (const HostTensor& out : outputs) {
      MG_ASSIGN_OR_RETURN(uint64_t offset, writer.Allocate(out.data.size()));
      std::memcpy(segment_.arena() + offset, out.data.data(), out.data.size());
      MG_RETURN_IF_ERROR(ipc::AddTensor(reply, WireFromTensorDType(out.dtype), out.shape, offset,
                                        out.data.size(), out.name));
    }
    return Status::Ok();
  }

  ipc::ShmSegment& segment_;
  Backend& backend_;
  const WorkerLoopOptions& options_;
  std::map<uint32_t, std::unique_ptr<ModelInstance>> instances_;
};

}  // namespace

int RunWorker(const WorkerLoopOptions& options, Backend& backend) {
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
  Worker worker(seg, backend, options);
  ipc::RequestRing requests = seg.requests();
  ipc::ResponseRing responses = seg.responses();
  std::vector<ipc::Doorbell> doorbells;
  for (int fd : options.doorbell_fds) doorbells.push_back(ipc::Doorbell::Adopt(fd));
  responses.set_doorbells(&doorbells);
  int exit_code = 0;
  while (true) {
    Message request;
    Status popped = requests.Pop(&request, 500);
    if (popped.code() == StatusCode::kUnavailable) continue;  // idle
    if (!popped.ok()) {
      std::fprintf(stderr, "worker %s: %s\n", options.name.c_str(), popped.ToString().c_str());
      exit_code = 3;
      break;
    }
    Message reply;
    bool keep_going = true;
    if (Status valid = ipc::ValidateMessage(request, seg.arena_bytes()); !valid.ok()) {
      reply = ipc::MakeMessage(request.request_id, Op::kNone, request.model_slot);
      reply.reply_doorbell = request.reply_doorbell;
      ipc::SetStatus(&reply, valid);
    } else {
      keep_going = worker.Handle(request, &reply);
    }
    while (!responses.Push(reply, 1000).ok()) {
      if (responses.corrupt()) break;  // the server reset the segment: nothing to answer
    }
    if (!keep_going) break;
  }
  seg.header().worker_state.store(static_cast<uint32_t>(ipc::WorkerState::kStopping));
  running = false;
  beater.join();
  return exit_code;
}

}  // namespace modelgrid
