#include "server/reply_stream.h"

#include <utility>

namespace modelgrid::server {

void ReplyStream::Write(std::string piece) {
  MutexLock lock(&mu_);
  if (ended_) return;
  if (sink_) {
    sink_(std::move(piece), false);
  } else {
    waiting_.push_back(std::move(piece));
  }
}

void ReplyStream::End() {
  MutexLock lock(&mu_);
  if (ended_) return;
  ended_ = true;
  if (sink_) sink_({}, true);
}

void ReplyStream::Attach(Sink sink) {
  MutexLock lock(&mu_);
  sink_ = std::move(sink);
  for (std::string& piece : waiting_) sink_(std::move(piece), false);
  waiting_.clear();
  if (ended_) sink_({}, true);
}

}  // namespace modelgrid::server
