// Server and worker in two processes (fork + memfd): tensor round trips, a worker that dies
// mid-response, a hung worker killed by the server, a hostile worker. Every wait is bounded;
// nothing asserts on time.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "ipc/arena.h"
#include "ipc/doorbell.h"
#include "ipc/heartbeat.h"
#include "ipc/message.h"
#include "ipc/shm_segment.h"

namespace modelgrid::ipc {
namespace {

constexpr uint8_t kXor = 0x5A;
constexpr int kNeverDie = -1;

// The child: answers kInfer with every input tensor XOR kXor, written into the response
// region. Dies by SIGKILL halfway through writing the output of request number `die_at`.
int EchoWorker(int segment_fd, int bell_fd, int die_at) {
  auto seg = ShmSegment::Attach(segment_fd);
  if (!seg.ok()) return 10;
  ShmSegment& s = **seg;
  Heartbeat heartbeat(&s.header());
  s.header().worker_pid.store(getpid());
  s.header().worker_state.store(uint32_t(WorkerState::kReady));
  heartbeat.Beat();
  Doorbell bell = Doorbell::Adopt(dup(bell_fd));
  RequestRing requests = s.requests();
  ResponseRing responses = s.responses();
  for (int served = 0;; ++served) {
    Message req;
    if (!requests.Pop(&req, 30'000).ok()) return 11;
    heartbeat.Beat();
    Message resp = MakeMessage(req.request_id, Op(req.op), req.model_slot);
    resp.response_offset = req.response_offset;
    resp.response_bytes = req.response_bytes;
    Status status = ValidateMessage(req, s.arena_bytes());
    RegionWriter writer(req.response_offset, req.response_bytes);
    for (uint32_t i = 0; status.ok() && req.op == uint8_t(Op::kInfer) && i < req.num_tensors; ++i) {
      const TensorDesc& in = req.tensors[i];
      auto out = writer.Allocate(in.bytes);
      if (!out.ok()) {
        status = out.status();
        break;
      }
      const std::byte* src = s.arena() + in.arena_offset;
      std::byte* dst = s.arena() + *out;
      for (uint64_t b = 0; b < in.bytes; ++b) {
        if (served == die_at && b == in.bytes / 2) raise(SIGKILL);
        dst[b] = src[b] ^ std::byte{kXor};
      }
      status = AddTensor(&resp, WireDType(in.dtype), std::span(in.dims, in.ndims), *out, in.bytes,
                         "out_" + std::string(TensorName(in)));
    }
    SetStatus(&resp, status);
    if (!responses.Push(resp, 30'000).ok()) return 12;
    if (!bell.Ring().ok()) return 13;
    if (req.op == uint8_t(Op::kShutdown)) return 0;
  }
}

struct Server {
  std::unique_ptr<ShmSegment> seg;
  Doorbell bell;
  ArenaAllocator arena;
  pid_t child = -1;
  int wait_status = 0;
  bool reaped = false;

  static Server Make(uint64_t arena_bytes) {
    ShmOptions options;
    options.request_ring_capacity = 4;
    options.response_ring_capacity = 4;
    options.arena_bytes = arena_bytes;
    auto seg = ShmSegment::Create("mg-ipc-process-test", options);
    auto bell = Doorbell::Create();
    EXPECT_TRUE(seg.ok() && bell.ok());
    const uint64_t bytes = (*seg)->arena_bytes();
    return Server{std::move(seg).value(), std::move(bell).value(), ArenaAllocator(bytes)};
  }

  void Spawn(int die_at) {
    reaped = false;
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) _exit(EchoWorker(seg->fd(), bell.fd(), die_at));
  }

  // Waits for the next response, checking between bounded waits whether the child died.
  Status Await(Message* msg) {
    for (int tries = 0; tries < 3000; ++tries) {  // bounds a broken test to ~60 s
      Status s = seg->responses().Pop(msg, 20);
      if (s.ok()) return s;
      if (s.code() != StatusCode::kUnavailable) return s;
      if (!reaped && waitpid(child, &wait_status, WNOHANG) == child) reaped = true;
      if (reaped && seg->responses().size() == 0)
        return Status(StatusCode::kUnavailable, "worker exited");
    }
    return Status(StatusCode::kUnavailable, "no response");
  }

  void Reap() {
    if (!reaped) {
      ASSERT_EQ(waitpid(child, &wait_status, 0), child);
    }
    reaped = true;
  }
};

struct Sent {
  uint64_t id;
  uint64_t in_offset, out_offset, out_bytes;
  std::vector<uint8_t> a, b;
};

// Writes two input tensors into the arena and pushes an infer request for them.
Sent SendInfer(Server& server, uint64_t id, uint64_t n, uint64_t out_bytes) {
  Sent sent{id, 0, 0, out_bytes, std::vector<uint8_t>(n), std::vector<uint8_t>(4 * (n + 1))};
  for (uint64_t i = 0; i < n; ++i) sent.a[i] = uint8_t(i * 31 + id);
  for (uint64_t i = 0; i < sent.b.size(); ++i) sent.b[i] = uint8_t(i * 7 + 3 * id);
  auto in = server.arena.Allocate(sent.a.size() + 64 + sent.b.size());
  auto out = server.arena.Allocate(out_bytes);
  if (!in.ok() || !out.ok()) {
    ADD_FAILURE() << in.status().ToString() << " " << out.status().ToString();
    return sent;
  }
  sent.in_offset = *in;
  sent.out_offset = *out;
  const uint64_t b_offset = *in + (sent.a.size() + 63) / 64 * 64;
  std::memcpy(server.seg->arena() + *in, sent.a.data(), sent.a.size());
  std::memcpy(server.seg->arena() + b_offset, sent.b.data(), sent.b.size());
  Message m = MakeMessage(id, Op::kInfer, uint32_t(id % 3));
  m.response_offset = *out;
  m.response_bytes = out_bytes;
  EXPECT_TRUE(AddTensor(&m, WireDType::kU8, {int64_t(n)}, *in, n, "a").ok());
  EXPECT_TRUE(AddTensor(&m, WireDType::kF32, {int64_t(n + 1)}, b_offset, 4 * (n + 1), "b").ok());
  EXPECT_TRUE(server.seg->requests().Push(m, 10'000).ok());
  return sent;
}

void CheckEcho(Server& server, const Sent& sent, const Message& resp) {
  ASSERT_EQ(resp.request_id, sent.id);
  ASSERT_TRUE(StatusOf(resp).ok()) << StatusOf(resp).ToString();
  ASSERT_TRUE(
      ValidateResponse(resp, server.seg->arena_bytes(), sent.out_offset, sent.out_bytes).ok());
  ASSERT_EQ(resp.num_tensors, 2);
  EXPECT_EQ(TensorName(resp.tensors[0]), "out_a");
  EXPECT_EQ(TensorName(resp.tensors[1]), "out_b");
  EXPECT_EQ(resp.tensors[1].dtype, uint8_t(WireDType::kF32));
  const std::vector<uint8_t>* inputs[] = {&sent.a, &sent.b};
  for (int t = 0; t < 2; ++t) {
    auto bytes = TensorBytes(server.seg->arena(), server.seg->arena_bytes(), resp.tensors[t]);
    ASSERT_TRUE(bytes.ok());
    ASSERT_EQ(bytes->size(), inputs[t]->size());
    for (size_t i = 0; i < bytes->size(); ++i) {
      ASSERT_EQ(uint8_t((*bytes)[i]), uint8_t((*inputs[t])[i] ^ kXor)) << "tensor " << t;
    }
  }
  EXPECT_TRUE(server.arena.Free(sent.in_offset).ok());
  EXPECT_TRUE(server.arena.Free(sent.out_offset).ok());
}

void Shutdown(Server& server) {
  ASSERT_TRUE(server.seg->requests().Push(MakeMessage(999, Op::kShutdown, 0), 10'000).ok());
  Message bye;
  Status s = server.Await(&bye);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(bye.request_id, 999u);
  server.Reap();
  ASSERT_TRUE(WIFEXITED(server.wait_status));
  EXPECT_EQ(WEXITSTATUS(server.wait_status), 0);
}

TEST(IpcProcess, EchoRoundTripWithTensors) {
  Server server = Server::Make(8 << 20);
  server.Spawn(kNeverDie);
  // Three requests in flight at a time, answered in order, freed as they come back.
  std::vector<Sent> in_flight;
  uint64_t id = 1;
  for (uint64_t n : {1, 7, 64, 1000, 4096, 65'536, 3, 100'000, 12'345}) {
    const uint64_t out_bytes = n + 4 * (n + 1) + 128;
    in_flight.push_back(SendInfer(server, id++, n, out_bytes));
    if (in_flight.size() == 3) {
      for (const Sent& sent : in_flight) {
        Message resp;
        Status s = server.Await(&resp);
        ASSERT_TRUE(s.ok()) << s.ToString();
        CheckEcho(server, sent, resp);
      }
      in_flight.clear();
    }
  }
  EXPECT_EQ(server.arena.allocation_count(), 0u);
  EXPECT_EQ(server.seg->header().worker_pid.load(), server.child);
  EXPECT_GT(Heartbeat(&server.seg->header()).count(), 9u);
  ASSERT_TRUE(server.bell.Wait(10'000));
  EXPECT_GE(server.bell.Drain(), 1u);

  // A response region too small: the worker answers kResourceExhausted instead of writing.
  SendInfer(server, 50, 256, 64);
  Message resp;
  ASSERT_TRUE(server.Await(&resp).ok());
  EXPECT_EQ(StatusOf(resp).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(resp.num_tensors, 0);
  // A request larger than the whole arena fails at once on the server side.
  auto huge = server.arena.Allocate(uint64_t{9} << 20);
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  Shutdown(server);
}

TEST(IpcProcess, WorkerKilledMidResponseIsDetectedAndSegmentReused) {
  Server server = Server::Make(1 << 20);
  server.Spawn(/*die_at=*/1);
  Sent first = SendInfer(server, 1, 5000, 30'000);
  Message resp;
  Status s = server.Await(&resp);
  ASSERT_TRUE(s.ok()) << s.ToString();
  CheckEcho(server, first, resp);
  SendInfer(server, 2, 5000, 30'000);  // the worker dies writing this one's output
  EXPECT_EQ(server.Await(&resp).code(), StatusCode::kUnavailable);
  server.Reap();
  ASSERT_TRUE(WIFSIGNALED(server.wait_status));
  EXPECT_EQ(WTERMSIG(server.wait_status), SIGKILL);

  // Restart on the same segment after a reset.
  const uint64_t generation = server.seg->header().generation.load();
  server.seg->Reset();
  server.arena.Reset();
  EXPECT_EQ(server.seg->header().generation.load(), generation + 1);
  EXPECT_EQ(server.seg->requests().size(), 0u);
  server.Spawn(kNeverDie);
  Sent again = SendInfer(server, 3, 777, 4096);
  s = server.Await(&resp);
  ASSERT_TRUE(s.ok()) << s.ToString();
  CheckEcho(server, again, resp);
  Shutdown(server);
}

TEST(IpcProcess, StaleHeartbeatThenSigkillDoesNotHang) {
  Server server = Server::Make(1 << 16);
  server.child = fork();
  ASSERT_GE(server.child, 0);
  if (server.child == 0) {  // attaches, beats once, then hangs without serving
    auto seg = ShmSegment::Attach(server.seg->fd());
    if (!seg.ok()) _exit(10);
    Heartbeat(&(*seg)->header()).Beat();
    for (;;) pause();
  }
  Heartbeat heartbeat(&server.seg->header());
  for (int i = 0; i < 1000 && heartbeat.count() == 0; ++i) usleep(10'000);
  ASSERT_EQ(heartbeat.count(), 1u);
  SendInfer(server, 1, 100, 1024);
  // An hour later by the injected clock, the worker has not beaten again: kill it.
  EXPECT_FALSE(heartbeat.IsAlive(5000, heartbeat.last_beat_ms() + 3'600'000));
  ASSERT_EQ(kill(server.child, SIGKILL), 0);
  Message resp;
  EXPECT_EQ(server.Await(&resp).code(), StatusCode::kUnavailable);
  server.Reap();
  EXPECT_TRUE(WIFSIGNALED(server.wait_status));
  server.seg->Reset();
  EXPECT_EQ(server.seg->requests().size(), 0u);
}

TEST(IpcProcess, HostileWorkerCannotMakeServerReadOutOfBounds) {
  Server server = Server::Make(1 << 16);
  const uint64_t region_offset = 4096, region_bytes = 4096;
  server.child = fork();
  ASSERT_GE(server.child, 0);
  if (server.child == 0) {
    auto seg = ShmSegment::Attach(server.seg->fd());
    if (!seg.ok()) _exit(10);
    ResponseRing ring = (*seg)->responses();
    Message bad = MakeMessage(1, Op::kInfer, 0);
    (void)AddTensor(&bad, WireDType::kU8, {16}, region_offset, 16, "ok");
    bad.tensors[0].arena_offset = (*seg)->arena_bytes() - 8;  // runs past the arena
    if (!ring.Push(bad, 10'000).ok()) _exit(11);
    bad.tensors[0].arena_offset = 0;  // inside the arena, outside the region
    if (!ring.Push(bad, 10'000).ok()) _exit(11);
    bad.tensors[0].arena_offset = region_offset;
    bad.num_tensors = 200;
    if (!ring.Push(bad, 10'000).ok()) _exit(11);
    // Once the server took all three, scramble the ring indices.
    for (int i = 0; i < 3000 && ring.size() != 0; ++i) usleep(10'000);
    ring.header()->tail.store(~uint64_t{0} / 2);
    _exit(0);
  }
  for (int i = 0; i < 3; ++i) {
    Message resp;
    Status s = server.Await(&resp);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(ValidateResponse(resp, server.seg->arena_bytes(), region_offset, region_bytes).code(),
              StatusCode::kCorruptData);
  }
  server.Reap();
  ASSERT_TRUE(WIFEXITED(server.wait_status));
  EXPECT_EQ(WEXITSTATUS(server.wait_status), 0);
  Message msg;
  EXPECT_EQ(server.seg->responses().Pop(&msg, 1000).code(), StatusCode::kCorruptData);
}

}  // namespace
}  // namespace modelgrid::ipc
