// The SPSC rings, doorbells and heartbeats inside one process. No timing assertions: timeouts
// only bound how long a failing test can take.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ipc/doorbell.h"
#include "ipc/heartbeat.h"
#include "ipc/message.h"
#include "ipc/shm_segment.h"

namespace modelgrid::ipc {
namespace {

std::unique_ptr<ShmSegment> MakeSegment(uint32_t capacity) {
  ShmOptions options;
  options.request_ring_capacity = capacity;
  options.response_ring_capacity = capacity;
  options.arena_bytes = 4096;
  auto seg = ShmSegment::Create("mg-ring-test", options);
  EXPECT_TRUE(seg.ok()) << seg.status().ToString();
  return std::move(seg).value();
}

// True when thread `tid` of this process is asleep (state S in /proc).
bool ThreadSleeps(pid_t tid) {
  if (tid == 0) return false;
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t name_end = text.rfind(')');  // the name may hold spaces and parentheses
  return name_end != std::string::npos && text.compare(name_end, 4, ") S ") == 0;
}

TEST(RingTest, PushPopKeepsOrderAndWrapsAround) {
  auto seg = MakeSegment(4);
  RequestRing ring = seg->requests();
  Message out;
  EXPECT_FALSE(ring.TryPop(&out));
  uint64_t next_push = 0;
  uint64_t next_pop = 0;
  for (int round = 0; round < 10; ++round) {  // 10 x 3 messages through 4 slots: wraps
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(ring.TryPush(MakeMessage(next_push++, Op::kPing, 0)));
    }
    EXPECT_EQ(ring.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(ring.TryPop(&out));
      EXPECT_EQ(out.request_id, next_pop++);
    }
  }
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_FALSE(ring.corrupt());
}

TEST(RingTest, FullRingRefusesPush) {
  auto seg = MakeSegment(4);
  ResponseRing ring = seg->responses();
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(ring.TryPush(MakeMessage(i, Op::kPing, 0)));
  EXPECT_FALSE(ring.TryPush(MakeMessage(99, Op::kPing, 0)));
  EXPECT_EQ(ring.Push(MakeMessage(99, Op::kPing, 0), 1).code(), StatusCode::kUnavailable);
  Message out;
  ASSERT_TRUE(ring.TryPop(&out));
  EXPECT_EQ(out.request_id, 0u);
  EXPECT_TRUE(ring.TryPush(MakeMessage(4, Op::kPing, 0)));
}

TEST(RingTest, PopTimesOutOnEmptyRing) {
  auto seg = MakeSegment(4);
  Message out;
  Status s = seg->requests().Pop(&out, 1);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("timed out"), std::string::npos);
}

TEST(RingTest, CorruptIndicesAreDetected) {
  auto seg = MakeSegment(4);
  RequestRing ring = seg->requests();
  ring.header()->tail.store(1000);  // a hostile producer claims 1000 messages
  Message out;
  EXPECT_TRUE(ring.corrupt());
  EXPECT_FALSE(ring.TryPop(&out));
  EXPECT_EQ(ring.Pop(&out, 1000, 0).code(), StatusCode::kCorruptData);
  EXPECT_FALSE(ring.TryPush(MakeMessage(1, Op::kPing, 0)));
  ring.header()->tail.store(0);
  ring.header()->head.store(5);  // head ahead of tail
  EXPECT_TRUE(ring.corrupt());
  EXPECT_FALSE(ring.TryPop(&out));
  seg->Reset();
  EXPECT_FALSE(ring.corrupt());
  EXPECT_TRUE(ring.TryPush(MakeMessage(1, Op::kPing, 0)));
}

// A producer and a consumer thread with blocking calls on a tiny ring: every message arrives
// once, in order, through many full/empty sleeps.
TEST(RingTest, ThreadsExchangeManyMessagesInOrder) {
  auto seg = MakeSegment(2);
  constexpr uint64_t kCount = 20'000;
  std::thread producer([&] {
    RequestRing ring = seg->requests();
    for (uint64_t i = 0; i < kCount; ++i) {
      Status s = ring.Push(MakeMessage(i, Op::kInfer, uint32_t(i % 7)), 10'000, i % 2 ? 0 : 64);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  });
  RequestRing ring = seg->requests();
  Message out;
  for (uint64_t i = 0; i < kCount; ++i) {
    Status s = ring.Pop(&out, 10'000, i % 3 ? 0 : 64);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(out.request_id, i);
    ASSERT_EQ(out.model_slot, i % 7);
  }
  producer.join();
  EXPECT_EQ(ring.size(), 0u);
}

TEST(IpcDoorbell, RingDrainWait) {
  auto bell = Doorbell::Create();
  ASSERT_TRUE(bell.ok());
  EXPECT_EQ(bell->Drain(), 0u);
  EXPECT_FALSE(bell->Wait(0));
  ASSERT_TRUE(bell->Ring().ok());
  ASSERT_TRUE(bell->Ring().ok());
  EXPECT_TRUE(bell->Wait(10'000));
  EXPECT_EQ(bell->Drain(), 2u);
  EXPECT_FALSE(bell->Wait(0));
}

TEST(IpcDoorbell, PollerReportsWhichWorkerRang) {
  auto poller = DoorbellPoller::Create();
  ASSERT_TRUE(poller.ok());
  std::vector<Doorbell> bells;
  for (uint64_t i = 0; i < 3; ++i) {
    auto bell = Doorbell::Create();
    ASSERT_TRUE(bell.ok());
    ASSERT_TRUE(poller->Add(bell->fd(), 100 + i).ok());
    bells.push_back(std::move(bell).value());
  }
  auto none = poller->Wait(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(bells[1].Ring().ok());
  auto keys = poller->Wait(10'000);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0], 101u);
  EXPECT_TRUE(poller->Remove(bells[1].fd()).ok());
}

// A push wakes the consumer the way it sleeps: an event loop (Sleep) through the doorbell the
// message names, Pop through the futex alone; an awake consumer neither.
TEST(RingWake, APushRingsTheDoorbellOnlyOfAConsumerAsleepInAnEventLoop) {
  auto seg = MakeSegment(8);
  std::vector<Doorbell> bells;
  for (int i = 0; i < 2; ++i) {
    auto bell = Doorbell::Create();
    ASSERT_TRUE(bell.ok());
    bells.push_back(std::move(bell).value());
  }
  ResponseRing producer = seg->responses();
  producer.set_doorbells(&bells);
  ResponseRing consumer = seg->responses();

  ASSERT_TRUE(consumer.Sleep());  // empty: the next push rings
  Message reply = MakeMessage(1, Op::kPing, 0);
  reply.reply_doorbell = 3;  // modulo 2: the second doorbell
  ASSERT_TRUE(producer.TryPush(reply));
  EXPECT_EQ(bells[0].Drain(), 0u);
  EXPECT_EQ(bells[1].Drain(), 1u);

  consumer.Wake();  // draining: pushes ring nothing
  ASSERT_TRUE(producer.TryPush(reply));
  EXPECT_EQ(bells[1].Drain(), 0u);
  Message out;
  while (consumer.TryPop(&out)) {
  }

  // A consumer asleep in Pop is woken on the futex, and its doorbell stays quiet.
  seg->responses().header()->consumer_waiting.store(kSleepsOnFutex);
  ASSERT_TRUE(producer.TryPush(reply));
  EXPECT_EQ(bells[0].Drain() + bells[1].Drain(), 0u);
}

TEST(RingWake, AConsumerAsleepInPopWakesForAPushFromARingWithDoorbells) {
  auto seg = MakeSegment(8);
  auto bell = Doorbell::Create();
  ASSERT_TRUE(bell.ok());
  std::vector<Doorbell> bells;
  bells.push_back(std::move(bell).value());
  ResponseRing producer = seg->responses();
  producer.set_doorbells(&bells);
  // A missed wake shows as a Pop that slept its whole timeout (it finds the message then).
  constexpr auto kTimeout = std::chrono::seconds(20);
  std::atomic<pid_t> consumer_tid{0};
  std::thread consumer([&] {
    consumer_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    ResponseRing ring = seg->responses();
    Message out;
    const auto start = std::chrono::steady_clock::now();
    Status s = ring.Pop(&out, uint32_t(kTimeout / std::chrono::milliseconds(1)), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, kTimeout) << "the push did not wake Pop";
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(out.request_id, 7u);
  });
  // Push once the consumer sleeps in the kernel, so that only the push's wake ends the sleep.
  while (seg->responses().header()->consumer_waiting.load() != kSleepsOnFutex ||
         !ThreadSleeps(consumer_tid.load())) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(producer.TryPush(MakeMessage(7, Op::kPing, 0)));
  consumer.join();
  EXPECT_EQ(bells[0].Drain(), 0u);
}

TEST(IpcHeartbeat, StalenessWithInjectedClock) {
  auto seg = MakeSegment(2);
  Heartbeat worker(&seg->header());
  Heartbeat server(&seg->header());
  EXPECT_FALSE(server.IsAlive(1000, 5000));  // never beat
  worker.Beat(5000);
  EXPECT_EQ(server.count(), 1u);
  EXPECT_EQ(server.last_beat_ms(), 5000u);
  EXPECT_TRUE(server.IsAlive(1000, 5000));
  EXPECT_TRUE(server.IsAlive(1000, 6000));
  EXPECT_FALSE(server.IsAlive(1000, 6001));
  EXPECT_TRUE(server.IsAlive(1000, 4000));  // clock skew: future beats count as fresh
  worker.Beat(7000);
  EXPECT_TRUE(server.IsAlive(1000, 7500));
  EXPECT_EQ(server.count(), 2u);
  worker.Beat();  // the real clock
  EXPECT_TRUE(server.IsAlive(3'600'000));
  seg->Reset();
  EXPECT_EQ(server.count(), 0u);
  EXPECT_FALSE(server.IsAlive(3'600'000));
  EXPECT_EQ(seg->header().generation.load(), 1u);
}

}  // namespace
}  // namespace modelgrid::ipc
