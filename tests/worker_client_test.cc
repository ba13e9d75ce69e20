// WorkerClient against the real worker loop (RunWorker on a thread of this process) and a
// scripted backend: calls that find no room in the arena wait instead of failing, outputs
// larger than their region are run once more with the room the worker asks for, a worker
// exit fails waiting calls too, and replies can be consumed on an event loop instead of the
// client's own thread. Every wait is bounded; nothing asserts on time.
#include "serve/worker_client.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/post.hpp>

#include "ipc/heartbeat.h"
#include "ipc/shm_layout.h"
#include "ipc/shm_segment.h"
#include "serve/worker_protocol.h"
#include "server/io_loops.h"
#include "worker/worker_loop.h"

namespace modelgrid {
namespace {

constexpr auto kWait = std::chrono::seconds(30);

// What the scripted instances do, shared with the test.
struct Script {
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;  // Infer blocks while true
  int runs = 0;       // Infer calls so far
  int repeat = 1;     // the output is the input this many times over
  // Decoupled instances: each request's responses come from a thread of its own; what
  // their sink's sends answered, in order.
  std::vector<std::thread> senders;
  std::vector<Status> sent;
  bool cancelled = false;  // a sink reported cancelled() after its sends

  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    hold = false;
    cv.notify_all();
  }
};

class ScriptedInstance : public ModelInstance {
 public:
  ScriptedInstance(ModelInstanceConfig config, Script& script)
      : config_(std::move(config)), script_(script) {}

  // Parking moves a pretend 1000 bytes of weights; a parked instance refuses to run.
  Result<uint64_t> Park() override {
    if (parked_.exchange(true)) return InvalidArgument("parked already");
    return uint64_t{1000};
  }
  Result<uint64_t> Unpark() override {
    if (!parked_.exchange(false)) return InvalidArgument("not parked");
    return uint64_t{1000};
  }

  Result<std::vector<HostTensor>> Infer(const std::vector<HostTensorView>& inputs) override {
    if (parked_) return Status(StatusCode::kUnavailable, "parked");
    int repeat = 1;
    {
      std::unique_lock<std::mutex> lock(script_.mu);
      ++script_.runs;
      script_.cv.wait(lock, [&] { return !script_.hold; });
      repeat = script_.repeat;
    }
    HostTensor out;
    out.name = "OUTPUT__0";
    out.dtype = inputs.at(0).dtype;
    out.shape = {static_cast<int64_t>(inputs[0].byte_size) * repeat};
    for (int i = 0; i < repeat; ++i) {
      out.data.insert(out.data.end(), inputs[0].data, inputs[0].data + inputs[0].byte_size);
    }
    return std::vector<HostTensor>{std::move(out)};
  }
  // `repeat` responses from a thread after this returns: response i is the input i + 1
  // times over, the last one final.
  Status InferDecoupled(const std::vector<HostTensorView>& inputs,
                        std::shared_ptr<ResponseSink> sink) override {
    std::string in(reinterpret_cast<const char*>(inputs.at(0).data), inputs[0].byte_size);
    std::lock_guard<std::mutex> lock(script_.mu);
    ++script_.runs;
    const int responses = script_.repeat;
    script_.senders.emplace_back([this, in, sink, responses] {
      for (int i = 0; i < responses; ++i) {
        HostTensor out{"OUTPUT__0", TensorDType::kUInt8, {}, {}};
        for (int k = 0; k <= i; ++k) out.data.insert(out.data.end(), in.begin(), in.end());
        out.shape = {static_cast<int64_t>(out.data.size())};
        Status st = sink->Send(std::vector<HostTensor>{std::move(out)}, i == responses - 1);
        std::lock_guard<std::mutex> lock(script_.mu);
        script_.sent.push_back(st);
      }
      std::lock_guard<std::mutex> lock(script_.mu);
      script_.cancelled = sink->cancelled();
    });
    return Status::Ok();
  }
  Result<MemoryStats> WarmUp() override { return MemoryStats{}; }
  MemoryStats Memory() override { return MemoryStats{}; }
  const ModelInstanceConfig& config() const override { return config_; }

 private:
  ModelInstanceConfig config_;
  Script& script_;
  std::atomic<bool> parked_{false};
};

class ScriptedBackend : public Backend {
 public:
  explicit ScriptedBackend(Script& script) : script_(script) {}
  Result<std::unique_ptr<ModelInstance>> Load(const ModelInstanceConfig& config) override {
    return std::unique_ptr<ModelInstance>(new ScriptedInstance(config, script_));
  }
  std::string Name() const override { return "scripted"; }

 private:
  Script& script_;
};

// True on a PollLoop thread.
thread_local bool tl_on_poll_loop = false;

// An event loop of one thread that polls one eventfd: the least a WorkerClient needs.
class PollLoop : public server::EventLoop {
 public:
  ~PollLoop() override { EXPECT_FALSE(running_) << "a watch outlived the test"; }

  size_t size() const override { return 1; }
  std::unique_ptr<server::FdWatch> WatchEventFd(size_t, int fd,
                                                std::function<void()> on_written) override {
    return std::make_unique<Watch>(this, fd, std::move(on_written));
  }

 private:
  class Watch : public server::FdWatch {
   public:
    Watch(PollLoop* loop, int fd, std::function<void()> callback) : loop_(loop) {
      loop_->running_ = true;
      thread_ = std::thread([this, fd, callback = std::move(callback)] {
        tl_on_poll_loop = true;
        while (loop_->running_) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 20) <= 0) continue;
          uint64_t count = 0;
          if (::read(fd, &count, sizeof count) == sizeof count) callback();
        }
      });
    }
    ~Watch() override {
      loop_->running_ = false;
      thread_.join();
    }

   private:
    PollLoop* loop_;
    std::thread thread_;
  };

  std::atomic<bool> running_{false};
};

// The outcome of one call: whether a PollLoop thread delivered it, and which server event
// loop did (-1: none).
struct Outcome {
  Result<Reply> reply = Status(StatusCode::kInternal, "not called");
  bool on_poll_loop = false;
  int event_loop = -1;
};

class WorkerClientTest : public ::testing::Test {
 protected:
  void Start(uint64_t arena_bytes, size_t doorbells = 1, int threads = 1, int instances = 1) {
    ipc::ShmOptions shm;
    shm.arena_bytes = arena_bytes;
    auto client = WorkerClient::Create("test-" + std::to_string(::getpid()), shm, doorbells);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
    options_.shm_fd = ::dup(client_->segment_fd());
    for (int fd : client_->doorbell_fds()) options_.doorbell_fds.push_back(::dup(fd));
    options_.name = "test";
    options_.execution_threads = threads;
    worker_ = std::thread([this] { worker_exit_ = RunWorker(options_, backend_); });
    client_->MarkUp();
    Load(0, instances);
  }

  void Load(uint32_t slot, int instances, bool decoupled = false) {
    ModelInstanceConfig config;
    config.path = "scripted";
    config.decoupled = decoupled;
    const std::string text = LoadConfigToJson(config, instances);
    auto loaded = Wait(Send(static_cast<uint8_t>(ipc::Op::kLoad),
                            {{"config",
                              static_cast<uint8_t>(ipc::WireDType::kBytes),
                              {static_cast<int64_t>(text.size())},
                              text.data(),
                              text.size()}},
                            0, slot));
    ASSERT_TRUE(loaded.reply.ok()) << loaded.reply.status().ToString();
    EXPECT_NE(loaded.reply->text.find("\"instances\":" + std::to_string(instances)),
              std::string::npos)
        << loaded.reply->text;
  }

  // Waits until the scripted backend has started `runs` inferences in all (bounded).
  bool WaitForRuns(int runs) {
    std::unique_lock<std::mutex> lock(script_.mu);
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (script_.runs < runs) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      lock.lock();
    }
    return true;
  }

  void TearDown() override {
    if (!client_) return;
    script_.Release();
    JoinSenders();
    client_->UseEventLoop(nullptr);
    client_->MarkUp();
    (void)Wait(Send(static_cast<uint8_t>(ipc::Op::kShutdown), {}, 0));
    worker_.join();
    // A worker whose segment was reset under it (an exit simulated while it ran) may find
    // the rings inconsistent and end with 3, as it should; otherwise the shutdown ends it.
    if (reset_under_worker_) {
      EXPECT_TRUE(worker_exit_ == 0 || worker_exit_ == 3) << worker_exit_;
    } else {
      EXPECT_EQ(worker_exit_, 0);
    }
    client_.reset();
  }

  std::future<Outcome> Send(uint8_t op, const std::vector<CallTensor>& inputs,
                            uint64_t response_bytes, uint32_t slot = 0) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto future = promise->get_future();
    client_->Call(op, slot, inputs, response_bytes, [promise](Result<Reply> reply) {
      promise->set_value(Outcome{std::move(reply), tl_on_poll_loop, server::CurrentEventLoop()});
    });
    return future;
  }

  // An inference of slot `slot` on `bytes`, with a response region of `response_bytes`.
  std::future<Outcome> Infer(const std::string& bytes, uint64_t response_bytes, uint32_t slot = 0) {
    return Send(static_cast<uint8_t>(ipc::Op::kInfer),
                {{"INPUT__0",
                  static_cast<uint8_t>(ipc::WireDType::kU8),
                  {static_cast<int64_t>(bytes.size())},
                  bytes.data(),
                  bytes.size()}},
                response_bytes, slot);
  }

  void JoinSenders() {
    std::vector<std::thread> senders;
    {
      std::lock_guard<std::mutex> lock(script_.mu);
      senders.swap(script_.senders);
    }
    for (auto& t : senders) t.join();
  }

  // A decoupled inference's parts, in order, until its final one (bounded).
  struct Parts {
    std::vector<Result<Reply>> replies;  // a final call without a response adds nothing
    int finals = 0;
  };
  Parts Stream(const std::string& bytes, uint64_t response_bytes, uint32_t slot = 0) {
    auto parts = std::make_shared<Parts>();
    auto done = std::make_shared<std::promise<void>>();
    client_->CallStream(static_cast<uint8_t>(ipc::Op::kInfer), slot,
                        {{"INPUT__0",
                          static_cast<uint8_t>(ipc::WireDType::kU8),
                          {static_cast<int64_t>(bytes.size())},
                          bytes.data(),
                          bytes.size()}},
                        response_bytes,
                        [parts, done](std::optional<Result<Reply>> reply, bool final) {
                          if (reply) parts->replies.push_back(std::move(*reply));
                          if (final && ++parts->finals == 1) done->set_value();
                        });
    if (done->get_future().wait_for(kWait) != std::future_status::ready) {
      parts->replies.push_back(Status(StatusCode::kInternal, "no final reply within 30 s"));
    }
    return *parts;
  }

  static Outcome Wait(std::future<Outcome> future) {
    if (future.wait_for(kWait) != std::future_status::ready) {
      return Outcome{Status(StatusCode::kInternal, "no reply within 30 s"), false, -1};
    }
    return future.get();
  }

  Script script_;
  ScriptedBackend backend_{script_};
  WorkerLoopOptions options_;
  std::unique_ptr<WorkerClient> client_;
  std::thread worker_;
  int worker_exit_ = -1;
  bool reset_under_worker_ = false;  // OnWorkerExit was called while the worker ran
};

std::string Bytes(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 13);
  return s;
}

TEST_F(WorkerClientTest, CallsWithoutRoomInTheArenaWaitAndAllComplete) {
  Start(uint64_t{1} << 20);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.hold = true;
  }
  // 12 x (4 KiB in + 128 KiB region) is more than the 1 MiB arena: some must wait.
  std::vector<std::string> inputs;
  std::vector<std::future<Outcome>> calls;
  for (int i = 0; i < 12; ++i) inputs.push_back(Bytes(4096, static_cast<char>('a' + i)));
  for (const auto& in : inputs) calls.push_back(Infer(in, 128 << 10));
  EXPECT_GT(client_->waiting(), 0u);
  script_.Release();
  for (size_t i = 0; i < calls.size(); ++i) {
    Outcome got = Wait(std::move(calls[i]));
    ASSERT_TRUE(got.reply.ok()) << "call " << i << ": " << got.reply.status().ToString();
    ASSERT_EQ(got.reply->outputs.size(), 1u);
    EXPECT_EQ(got.reply->outputs[0].data, inputs[i]) << "call " << i;
  }
  EXPECT_EQ(client_->waiting(), 0u);
  EXPECT_EQ(client_->in_flight(), 0u);
}

TEST_F(WorkerClientTest, ACallThatCanNeverFitFailsAtOnce) {
  Start(uint64_t{1} << 20);
  Outcome got = Wait(Infer(Bytes(2 << 20, 'x'), 64));
  ASSERT_FALSE(got.reply.ok());
  EXPECT_EQ(got.reply.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(got.reply.status().message().find("exceed"), std::string::npos)
      << got.reply.status().ToString();
}

TEST_F(WorkerClientTest, OutputsLargerThanTheRegionRunOnceMoreWithTheRoomTheyNeed) {
  Start(uint64_t{4} << 20);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.repeat = 4;
  }
  const std::string in = Bytes(1000, 'q');
  Outcome got = Wait(Infer(in, 1024));  // the output needs 4000 bytes
  ASSERT_TRUE(got.reply.ok()) << got.reply.status().ToString();
  EXPECT_EQ(got.reply->outputs.at(0).data, in + in + in + in);
  std::lock_guard<std::mutex> lock(script_.mu);
  EXPECT_EQ(script_.runs, 2);
}

TEST_F(WorkerClientTest, AWorkerExitFailsCallsInFlightAndWaiting) {
  Start(uint64_t{1} << 20);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.hold = true;
  }
  std::vector<std::future<Outcome>> calls;
  const std::string in = Bytes(4096, 'w');
  for (int i = 0; i < 12; ++i) calls.push_back(Infer(in, 128 << 10));
  ASSERT_GT(client_->waiting(), 0u);
  reset_under_worker_ = true;
  client_->OnWorkerExit("killed by the test");
  for (auto& call : calls) {
    Outcome got = Wait(std::move(call));
    ASSERT_FALSE(got.reply.ok());
    EXPECT_EQ(got.reply.status().code(), StatusCode::kUnavailable) << got.reply.status().ToString();
  }
  EXPECT_EQ(client_->waiting(), 0u);
}

TEST_F(WorkerClientTest, RepliesAreDeliveredOnTheEventLoopAndBackOnTheClientThread) {
  Start(uint64_t{4} << 20);
  PollLoop loop;
  client_->UseEventLoop(&loop);
  for (int i = 0; i < 50; ++i) {
    const std::string in = Bytes(256, static_cast<char>(i));
    Outcome got = Wait(Infer(in, 4096));
    ASSERT_TRUE(got.reply.ok()) << "call " << i << ": " << got.reply.status().ToString();
    EXPECT_EQ(got.reply->outputs.at(0).data, in);
    EXPECT_TRUE(got.on_poll_loop) << "call " << i;
  }
  client_->UseEventLoop(nullptr);
  Outcome after = Wait(Infer(Bytes(256, 'z'), 4096));
  ASSERT_TRUE(after.reply.ok()) << after.reply.status().ToString();
  EXPECT_FALSE(after.on_poll_loop);
}

TEST_F(WorkerClientTest, InstancesOfOneSlotRunSideBySide) {
  Start(uint64_t{4} << 20, 1, /*threads=*/2, /*instances=*/2);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.hold = true;
  }
  const std::string a = Bytes(64, 'a'), b = Bytes(64, 'b');
  auto first = Infer(a, 4096);
  auto second = Infer(b, 4096);
  // Both inferences are inside the backend at once: the second did not wait for the first.
  EXPECT_TRUE(WaitForRuns(2));
  script_.Release();
  Outcome got_a = Wait(std::move(first)), got_b = Wait(std::move(second));
  ASSERT_TRUE(got_a.reply.ok()) << got_a.reply.status().ToString();
  ASSERT_TRUE(got_b.reply.ok()) << got_b.reply.status().ToString();
  EXPECT_EQ(got_a.reply->outputs.at(0).data, a);
  EXPECT_EQ(got_b.reply->outputs.at(0).data, b);
}

TEST_F(WorkerClientTest, DifferentSlotsRunSideBySideAndOneInstanceTakesOneAtATime) {
  Start(uint64_t{4} << 20, 1, /*threads=*/2);
  Load(1, 1);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.hold = true;
  }
  auto slot0 = Infer(Bytes(64, 'x'), 4096, 0);
  auto slot1 = Infer(Bytes(64, 'y'), 4096, 1);
  EXPECT_TRUE(WaitForRuns(2));
  // A second request of a one-instance slot waits for the first, whatever the threads.
  auto slot0_again = Infer(Bytes(64, 'z'), 4096, 0);
  // It cannot start while slot 0's only instance is held (being slow can only hide a bug
  // here, never make one up).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    EXPECT_EQ(script_.runs, 2);
  }
  script_.Release();
  for (auto* call : {&slot0, &slot1, &slot0_again}) {
    Outcome got = Wait(std::move(*call));
    ASSERT_TRUE(got.reply.ok()) << got.reply.status().ToString();
  }
}

TEST_F(WorkerClientTest, EachReplyWakesTheEventLoopThatSentItsRequest) {
  Start(uint64_t{4} << 20, 3);
  server::IoLoops loops(3);
  loops.Start();
  client_->UseEventLoop(&loops);
  for (int i = 0; i < 30; ++i) {
    const size_t loop = static_cast<size_t>(i) % loops.size();
    const std::string in = Bytes(128, static_cast<char>(i));
    std::promise<std::future<Outcome>> sent;
    boost::asio::post(loops.context(loop), [&] { sent.set_value(Infer(in, 4096)); });
    Outcome got = Wait(sent.get_future().get());
    ASSERT_TRUE(got.reply.ok()) << "call " << i << ": " << got.reply.status().ToString();
    EXPECT_EQ(got.reply->outputs.at(0).data, in);
    EXPECT_EQ(got.event_loop, static_cast<int>(loop)) << "call " << i;
    // The loop that delivered it finishes its drain before the next call: a loop still
    // draining takes whatever reply arrives meanwhile, whoever it is for (and hands it to
    // its own loop; the doorbell is for a client that sleeps).
    std::promise<void> idle;
    boost::asio::post(loops.context(loop), [&] { idle.set_value(); });
    idle.get_future().wait();
  }
  loops.Stop();
  client_->UseEventLoop(nullptr);
}

TEST_F(WorkerClientTest, ASlotParksAndUnparksEveryInstance) {
  Start(uint64_t{1} << 20, 1, 2, /*instances=*/3);
  auto op = [&](ipc::Op o) { return Wait(Send(static_cast<uint8_t>(o), {}, 0)); };
  Outcome parked = op(ipc::Op::kPark);
  ASSERT_TRUE(parked.reply.ok()) << parked.reply.status().ToString();
  EXPECT_EQ(parked.reply->text, R"({"bytes":3000})");
  Outcome refused = Wait(Infer(Bytes(16, 'p'), 4096));
  EXPECT_EQ(refused.reply.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(op(ipc::Op::kPark).reply.status().code(), StatusCode::kInvalidArgument);
  // The failed park left every instance parked: the unpark moves all three back.
  Outcome back = op(ipc::Op::kUnpark);
  ASSERT_TRUE(back.reply.ok()) << back.reply.status().ToString();
  EXPECT_EQ(back.reply->text, R"({"bytes":3000})");
  Outcome served = Wait(Infer(Bytes(16, 'q'), 4096));
  EXPECT_TRUE(served.reply.ok()) << served.reply.status().ToString();
  EXPECT_EQ(Wait(Send(static_cast<uint8_t>(ipc::Op::kPark), {}, 0, 7)).reply.status().code(),
            StatusCode::kNotFound);
}

TEST_F(WorkerClientTest, ADecoupledModelsResponsesArriveInOrderAndGrowTheirRegion) {
  Start(uint64_t{4} << 20);
  Load(1, 1, /*decoupled=*/true);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.repeat = 5;
  }
  // Response i is the input i + 1 times over: from the second on, larger than the 1 KiB
  // region, which the worker asks to grow in its ack.
  const std::string in = Bytes(1000, 'd');
  Parts parts = Stream(in, 1024, 1);
  EXPECT_EQ(parts.finals, 1);
  ASSERT_EQ(parts.replies.size(), 5u);
  std::string want;
  for (size_t i = 0; i < parts.replies.size(); ++i) {
    want += in;
    ASSERT_TRUE(parts.replies[i].ok()) << i << ": " << parts.replies[i].status().ToString();
    EXPECT_EQ(parts.replies[i]->outputs.at(0).data, want) << "response " << i;
  }
  JoinSenders();
  std::lock_guard<std::mutex> lock(script_.mu);
  for (const Status& st : script_.sent) EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(script_.cancelled);
  EXPECT_EQ(client_->in_flight(), 0u);
}

TEST_F(WorkerClientTest, AResponseLargerThanTheArenaEndsTheStreamAndCancelsItInTheWorker) {
  Start(uint64_t{1} << 20);
  Load(1, 1, /*decoupled=*/true);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.repeat = 4;
  }
  // 300 KB, 600 KB, then 900 KB: more than the 1 MiB arena holds beside the input.
  const std::string in = Bytes(300'000, 'e');
  Parts parts = Stream(in, 400'000, 1);
  EXPECT_EQ(parts.finals, 1);
  ASSERT_EQ(parts.replies.size(), 3u);
  EXPECT_TRUE(parts.replies[0].ok());
  EXPECT_TRUE(parts.replies[1].ok());
  ASSERT_FALSE(parts.replies[2].ok());
  EXPECT_EQ(parts.replies[2].status().code(), StatusCode::kResourceExhausted)
      << parts.replies[2].status().ToString();
  JoinSenders();
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    ASSERT_EQ(script_.sent.size(), 4u);
    EXPECT_TRUE(script_.sent[2].ok());  // queued in the worker, then dropped by the cancel
    EXPECT_EQ(script_.sent[3].code(), StatusCode::kUnavailable) << script_.sent[3].ToString();
    EXPECT_TRUE(script_.cancelled);
  }
  // Nothing stays allocated: a call as large as the arena allows still fits.
  EXPECT_EQ(client_->in_flight(), 0u);
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.repeat = 1;
  }
  Outcome got = Wait(Infer(Bytes(400'000, 'f'), 500'000));
  EXPECT_TRUE(got.reply.ok()) << got.reply.status().ToString();
}

// The watchdog's view of a worker (serve/worker_pool.cc): starting until the worker beats
// after MarkUp, whatever a previous worker of the segment beat; then silent since its beat.
TEST(WorkerClientHeartbeat, AWorkerIsStartingUntilItBeatsAfterMarkUp) {
  auto client = WorkerClient::Create("beat-" + std::to_string(::getpid()), ipc::ShmOptions{}, 1);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto segment = ipc::ShmSegment::Attach(::dup((*client)->segment_fd()));
  ASSERT_TRUE(segment.ok()) << segment.status().ToString();
  ipc::Heartbeat worker(&(*segment)->header());
  const uint64_t t0 = ipc::MonotonicNowMs();
  worker.Beat(t0);  // the previous worker's last beat
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint64_t before = ipc::MonotonicNowMs();
  (*client)->MarkUp();  // its successor is attached
  const uint64_t up = ipc::MonotonicNowMs();
  bool starting = false;
  const uint64_t silent = (*client)->SilentMs(up + 700, &starting);
  EXPECT_GE(silent, 700u);
  EXPECT_LE(silent, 700u + (up - before));
  EXPECT_TRUE(starting);
  worker.Beat(up + 100);  // the successor's first beat
  EXPECT_EQ((*client)->SilentMs(up + 700, &starting), 600u);
  EXPECT_FALSE(starting);
}

}  // namespace
}  // namespace modelgrid
