// EventLoop: lets a component outside the HTTP server run on the server's I/O threads when
// an eventfd is written, with no thread of its own. Worker clients watch their
// reply doorbells this way, so a reply is encoded and written by the thread that wakes for
// it instead of being handed from a reply thread to an I/O thread (one wake-up less per
// request).
#pragma once

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

class EventLoop {
 public:
  virtual ~EventLoop() = default;

  // Calls `on_written` on one of the loop's threads after `eventfd` was written, never two
  // calls at once. The watch reads (resets) the counter before each call, so a write made
  // during a call leads to another call. `eventfd` (non-blocking) is borrowed: keep it open
  // while the watch lives. Null when the loop is stopping.
  virtual std::unique_ptr<FdWatch> WatchEventFd(int eventfd, std::function<void()> on_written) = 0;
};

}  // namespace modelgrid::server
