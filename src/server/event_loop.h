// EventLoop: lets a component outside the HTTP server run on the server's I/O threads when
// an eventfd is written, with no thread of its own. Worker clients watch their
// reply doorbells this way, so a reply is encoded and written by the thread that wakes for
// it instead of being handed from a reply thread to an I/O thread (one wake-up less per
// request).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace modelgrid::server {

// A watch in force. Destroying it stops the watch: after the destructor returns,
// on_readable is not running and will not run again. Do not destroy it from inside its own
// on_readable.
class FdWatch {
 public:
  virtual ~FdWatch() = default;
};

// One or more loops, each run by one thread.
class EventLoop {
 public:
  virtual ~EventLoop() = default;

  virtual size_t size() const = 0;

  // Calls `on_written` on loop `loop` (modulo size()) after `eventfd` was written, never two
  // calls at once. The watch reads (resets) the counter before each call, so a write made
  // during a call leads to another call. `eventfd` (non-blocking) is borrowed: keep it open
  // while the watch lives. Null when the loop is stopping.
  virtual std::unique_ptr<FdWatch> WatchEventFd(size_t loop, int eventfd,
                                                std::function<void()> on_written) = 0;
};

// The index of the server event loop running on this thread, or -1 on any other thread.
int CurrentEventLoop();

}  // namespace modelgrid::server
