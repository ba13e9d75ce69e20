// Server <-> worker round trips: the shared-memory rings (futex wake-ups) against a pipe pair
// and against a plain memcpy of the payload, to a worker thread and to a worker process.
//
//   build-ipc/bench/ipc_bench [--benchmark_filter=...]
//
// The worker copies the request tensor into its response region (the same bytes a pipe
// moves each way), so both transports do the same data work. `spin` is how many times a
// waiting side polls before sleeping on the futex.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "ipc/message.h"
#include "ipc/shm_segment.h"
#include "ratio_reporter.h"

namespace modelgrid::ipc {
namespace {

constexpr uint64_t kPayloadBytes = 1024;  // a small request: one 256-float tensor
constexpr uint64_t kResponseOffset = 4096;
constexpr uint32_t kWaitMs = 10'000;

std::unique_ptr<ShmSegment> MakeSegment() {
  ShmOptions options;
  options.request_ring_capacity = 8;
  options.response_ring_capacity = 8;
  options.arena_bytes = 1 << 16;
  auto seg = ShmSegment::Create("mg-ipc-bench", options);
  if (!seg.ok()) {
    std::fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    std::abort();
  }
  return std::move(seg).value();
}

// Echoes requests until kShutdown; returns 0 on a clean shutdown.
int RingEcho(const ShmSegment& seg, uint32_t spin) {
  RequestRing requests = seg.requests();
  ResponseRing responses = seg.responses();
  Message req;
  while (requests.Pop(&req, kWaitMs, spin).ok()) {
    Message resp = MakeMessage(req.request_id, Op(req.op), req.model_slot);
    if (req.op == uint8_t(Op::kShutdown)) return responses.Push(resp, kWaitMs, spin).ok() ? 0 : 1;
    if (ValidateMessage(req, seg.arena_bytes()).ok() && req.num_tensors == 1) {
      const TensorDesc& in = req.tensors[0];
      std::memcpy(seg.arena() + req.response_offset, seg.arena() + in.arena_offset, in.bytes);
      (void)AddTensor(&resp, WireDType(in.dtype), std::span(in.dims, in.ndims), req.response_offset,
                      in.bytes, "out");
    }
    if (!responses.Push(resp, kWaitMs, spin).ok()) return 1;
  }
  return 1;
}

void RingRoundTrips(benchmark::State& state, const ShmSegment& seg, uint32_t spin) {
  RequestRing requests = seg.requests();
  ResponseRing responses = seg.responses();
  std::vector<std::byte> payload(kPayloadBytes, std::byte{1});
  uint64_t id = 0;
  for (auto _ : state) {
    std::memcpy(seg.arena(), payload.data(), kPayloadBytes);  // written once, into the arena
    Message req = MakeMessage(++id, Op::kInfer, 0);
    req.response_offset = kResponseOffset;
    req.response_bytes = kPayloadBytes;
    (void)AddTensor(&req, WireDType::kF32, {int64_t(kPayloadBytes / 4)}, 0, kPayloadBytes, "x");
    Message resp;
    if (!requests.Push(req, kWaitMs, spin).ok() || !responses.Pop(&resp, kWaitMs, spin).ok() ||
        resp.request_id != id) {
      state.SkipWithError("ring round trip failed");
      break;
    }
    auto out = TensorBytes(seg.arena(), seg.arena_bytes(), resp.tensors[0]);
    benchmark::DoNotOptimize(out.ok() ? (*out)[kPayloadBytes - 1] : std::byte{0});
  }
  Message bye;
  (void)requests.Push(MakeMessage(0, Op::kShutdown, 0), kWaitMs);
  (void)responses.Pop(&bye, kWaitMs);
}

void BM_RingRoundTrip_Thread(benchmark::State& state) {
  auto seg = MakeSegment();
  const uint32_t spin = uint32_t(state.range(0));
  std::thread worker([&] { RingEcho(*seg, spin); });
  RingRoundTrips(state, *seg, spin);
  worker.join();
}
BENCHMARK(BM_RingRoundTrip_Thread)->ArgName("spin")->Arg(0)->Arg(2000)->UseRealTime();

void BM_RingRoundTrip_Process(benchmark::State& state) {
  auto seg = MakeSegment();
  const uint32_t spin = uint32_t(state.range(0));
  const pid_t child = fork();
  if (child == 0) {
    auto attached = ShmSegment::Attach(seg->fd());
    _exit(attached.ok() ? RingEcho(**attached, spin) : 2);
  }
  RingRoundTrips(state, *seg, spin);
  int status = 0;
  waitpid(child, &status, 0);
}
BENCHMARK(BM_RingRoundTrip_Process)->ArgName("spin")->Arg(0)->Arg(2000)->UseRealTime();

bool ReadFull(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

bool WriteFull(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

// A pipe message: a 64-byte header (id, size) and then the payload.
struct PipeHeader {
  uint64_t request_id;
  uint64_t payload_bytes;
  uint8_t pad[48];
};

void PipeEcho(int in_fd, int out_fd) {
  PipeHeader h;
  std::vector<std::byte> buf(kPayloadBytes);
  while (ReadFull(in_fd, &h, sizeof(h)) && h.payload_bytes == kPayloadBytes &&
         ReadFull(in_fd, buf.data(), kPayloadBytes)) {
    if (!WriteFull(out_fd, &h, sizeof(h)) || !WriteFull(out_fd, buf.data(), kPayloadBytes)) {
      return;
    }
  }
}

void PipeRoundTrips(benchmark::State& state, int to_worker, int from_worker) {
  std::vector<std::byte> payload(kPayloadBytes, std::byte{1}), back(kPayloadBytes);
  PipeHeader h{};
  h.payload_bytes = kPayloadBytes;
  for (auto _ : state) {
    ++h.request_id;
    PipeHeader r;
    if (!WriteFull(to_worker, &h, sizeof(h)) ||
        !WriteFull(to_worker, payload.data(), kPayloadBytes) ||
        !ReadFull(from_worker, &r, sizeof(r)) ||
        !ReadFull(from_worker, back.data(), kPayloadBytes)) {
      state.SkipWithError("pipe round trip failed");
      break;
    }
    benchmark::DoNotOptimize(back[kPayloadBytes - 1]);
  }
}

void BM_PipeRoundTrip_Thread(benchmark::State& state) {
  int to[2], from[2];
  if (pipe(to) != 0 || pipe(from) != 0) std::abort();
  std::thread worker([&] { PipeEcho(to[0], from[1]); });
  PipeRoundTrips(state, to[1], from[0]);
  close(to[1]);  // EOF ends the worker
  worker.join();
  for (int fd : {to[0], from[0], from[1]}) close(fd);
}
BENCHMARK(BM_PipeRoundTrip_Thread)->UseRealTime();

void BM_PipeRoundTrip_Process(benchmark::State& state) {
  int to[2], from[2];
  if (pipe(to) != 0 || pipe(from) != 0) std::abort();
  const pid_t child = fork();
  if (child == 0) {
    close(to[1]);
    close(from[0]);
    PipeEcho(to[0], from[1]);
    _exit(0);
  }
  close(to[0]);
  close(from[1]);
  PipeRoundTrips(state, to[1], from[0]);
  close(to[1]);
  int status = 0;
  waitpid(child, &status, 0);
  close(from[0]);
}
BENCHMARK(BM_PipeRoundTrip_Process)->UseRealTime();

// The data work of one round trip without any transport: the payload copied there and back.
void BM_Baseline_Memcpy(benchmark::State& state) {
  std::vector<std::byte> a(kPayloadBytes, std::byte{1}), b(kPayloadBytes), c(kPayloadBytes);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), kPayloadBytes);
    benchmark::ClobberMemory();
    std::memcpy(c.data(), b.data(), kPayloadBytes);
    benchmark::DoNotOptimize(c[kPayloadBytes - 1]);
  }
}
BENCHMARK(BM_Baseline_Memcpy)->UseRealTime();

}  // namespace
}  // namespace modelgrid::ipc

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv);
  modelgrid::bench::RatioReporter reporter([](const modelgrid::bench::RatioReporter& r) {
    using modelgrid::ipc::kPayloadBytes;
    const std::string memcpy = "BM_Baseline_Memcpy/real_time";
    auto ratio = [&](const std::string& a, const std::string& b) {
      if (r.Has(a) && r.Has(b)) {
        std::printf("%-44s %10.0f ns = %7.2fx %s (%.0f ns)\n", a.c_str(), r.Time(a),
                    r.Time(a) / r.Time(b), b.c_str(), r.Time(b));
      }
    };
    std::printf("\nRound trip of a %llu-byte request, ratios:\n",
                static_cast<unsigned long long>(kPayloadBytes));
    for (const char* where : {"Thread", "Process"}) {
      const std::string pipe = std::string("BM_PipeRoundTrip_") + where + "/real_time";
      for (const char* spin : {"0", "2000"}) {
        const std::string ring =
            std::string("BM_RingRoundTrip_") + where + "/spin:" + spin + "/real_time";
        ratio(ring, pipe);
        ratio(ring, memcpy);
      }
      ratio(pipe, memcpy);
    }
  });
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
