// IoLoops: the HTTP server's I/O threads, one Asio io_context per thread.
//
// A connection lives on one loop for its whole life, so its handlers need no strand, and a
// reply written by the thread that woke for it wakes no other thread. (One io_context run
// by several threads instead signals an idle thread after almost every handler: on a small
// machine those wake-ups cost more CPU than the requests.) Also the EventLoop that the
// service watches descriptors on.
//
// Internal to the server's .cc files: this header pulls in Asio.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "server/event_loop.h"

namespace modelgrid::server {

class IoLoops : public EventLoop {
 public:
  explicit IoLoops(int threads);
  ~IoLoops() override;  // Stop(), then the loops and whatever handlers they still queue go

  IoLoops(const IoLoops&) = delete;
  IoLoops& operator=(const IoLoops&) = delete;

  size_t size() const override { return contexts_.size(); }
  boost::asio::io_context& context(size_t i) { return *contexts_[i]; }
  // The first loop (the acceptor's), and the next one in turn (connections, watches).
  boost::asio::io_context& first() { return *contexts_.front(); }
  size_t NextIndex();
  boost::asio::io_context& Next() { return context(NextIndex()); }

  // Runs one thread per loop. A handler that throws loses its own work, not the thread.
  void Start();
  // Stops every loop and joins the threads; queued handlers stay queued (and are destroyed
  // with the loops). Blocks; never call it from a loop thread. Idempotent.
  void Stop();

  // A watch still alive when the IoLoops go ends then (its callback never runs again);
  // destroying it later is safe.
  std::unique_ptr<FdWatch> WatchEventFd(size_t loop, int eventfd,
                                        std::function<void()> on_written) override;

  struct WatchState;

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;

  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::optional<WorkGuard>> work_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stopped_{false};
  std::mutex watches_mu_;
  std::vector<std::weak_ptr<WatchState>> watches_;  // GUARDED_BY(watches_mu_)
};

}  // namespace modelgrid::server
