#include "server/io_loops.h"

#include <cstdint>
#include <mutex>
#include <optional>

#include <boost/asio/posix/stream_descriptor.hpp>

namespace modelgrid::server {
namespace {

namespace net = boost::asio;

thread_local int tl_current_loop = -1;

void RunLoop(net::io_context& ioc, int index) {
  tl_current_loop = index;
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (...) {
      // A handler threw (out of memory, a bug): that connection is lost, the server is not.
    }
  }
}

}  // namespace

// What a watch's pending wait holds on to. Every use of `descriptor` is under `mu`, so the
// wait re-armed by a loop thread and the release by the destroying thread never overlap.
struct IoLoops::WatchState {
  WatchState(net::io_context& ioc, int fd, std::function<void()> callback)
      : on_written(std::move(callback)) {
    descriptor.emplace(ioc, fd);
  }

  // Stops the watch: cancels the pending wait (its handler then sees !alive) and gives the
  // descriptor back to its owner, open. `mu` is held.
  void End() {
    alive = false;
    if (descriptor) (void)descriptor->release();
    descriptor.reset();
  }

  std::mutex mu;
  bool alive = true;                                        // guarded by mu
  std::optional<net::posix::stream_descriptor> descriptor;  // guarded by mu
  uint64_t counter = 0;                                     // the eventfd's, as read
  std::function<void()> on_written;
};

namespace {

using WatchState = IoLoops::WatchState;

void Arm(const std::shared_ptr<WatchState>& state);

// After a read of the counter: calls on_written and reads again, unless the watch ended.
void OnCounterRead(const std::shared_ptr<WatchState>& state, const boost::system::error_code& ec) {
  std::lock_guard<std::mutex> lock(state->mu);
  if (ec || !state->alive) return;  // ended, or a dead descriptor
  state->on_written();
  Arm(state);
}

// Reads the counter once it is non-zero. A read, not an async_wait: Asio tries a read at
// once when it starts one (it never does for a wait), so a write made after the previous
// read is never lost to its edge-triggered epoll. `state->mu` is held.
void Arm(const std::shared_ptr<WatchState>& state) {
  auto on_read = [state](const boost::system::error_code& ec, size_t) { OnCounterRead(state, ec); };
  state->descriptor->async_read_some(net::buffer(&state->counter, sizeof state->counter),
                                     std::move(on_read));
}

class DescriptorWatch : public FdWatch {
 public:
  explicit DescriptorWatch(std::shared_ptr<WatchState> state) : state_(std::move(state)) {}
  ~DescriptorWatch() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->End();
  }

 private:
  std::shared_ptr<WatchState> state_;
};

}  // namespace

IoLoops::IoLoops(int threads) {
  for (int i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<net::io_context>(1));
    work_.emplace_back(contexts_.back()->get_executor());
  }
}

IoLoops::~IoLoops() {
  Stop();
  // A watch its owner forgot ends here, while the loop it waits on still exists.
  std::lock_guard<std::mutex> lock(watches_mu_);
  for (auto& weak : watches_) {
    if (auto state = weak.lock()) {
      std::lock_guard<std::mutex> state_lock(state->mu);
      state->End();
    }
  }
}

size_t IoLoops::NextIndex() {
  return next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size();
}

void IoLoops::Start() {
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] { RunLoop(*contexts_[i], static_cast<int>(i)); });
  }
}

void IoLoops::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& work : work_) work.reset();
  for (auto& ioc : contexts_) ioc->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

std::unique_ptr<FdWatch> IoLoops::WatchEventFd(size_t loop, int eventfd,
                                               std::function<void()> on_written) {
  if (stopped_ || eventfd < 0) return nullptr;
  auto state = std::make_shared<WatchState>(context(loop % contexts_.size()), eventfd,
                                            std::move(on_written));
  {
    std::lock_guard<std::mutex> lock(state->mu);
    Arm(state);
  }
  {
    std::lock_guard<std::mutex> lock(watches_mu_);
    std::erase_if(watches_, [](const std::weak_ptr<WatchState>& w) { return w.expired(); });
    watches_.push_back(state);
  }
  return std::make_unique<DescriptorWatch>(std::move(state));
}

int CurrentEventLoop() { return tl_current_loop; }

}  // namespace modelgrid::server
