// ReplyStream: the body of an HTTP reply written while it is produced (Triton's
// generate_stream, as Server-Sent Events). The producer (a service callback, any thread)
// Write()s pieces and End()s; the HTTP session Attach()es a sink once it has sent the
// headers, and the sink receives every piece, in order, then the end. Pieces written before
// Attach wait here. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/mutex.h"

namespace modelgrid::server {

class ReplyStream {
 public:
  // Receives one piece, or with `end` the end (and no piece). Called under the stream's
  // lock: it must not block (the HTTP session posts to its event loop) nor call back.
  using Sink = std::function<void(std::string piece, bool end)>;

  void Write(std::string piece) EXCLUDES(mu_);
  void End() EXCLUDES(mu_);
  // Once; what was written so far goes to `sink` at once.
  void Attach(Sink sink) EXCLUDES(mu_);

 private:
  Mutex mu_;
  std::vector<std::string> waiting_ GUARDED_BY(mu_);
  bool ended_ GUARDED_BY(mu_) = false;
  Sink sink_ GUARDED_BY(mu_);
};

}  // namespace modelgrid::server
