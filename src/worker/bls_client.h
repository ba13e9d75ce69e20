// BlsClient: the worker's end of its BLS socket (serve/bls_wire.h). A Python model's BLS
// call into a model that does not run in this worker goes to the server, which routes it
// like any request; the caller's thread waits for the reply. Calls take turns on the
// socket. Thread-safe.
#pragma once

#include <mutex>
#include <vector>

#include "backends/backend.h"

namespace modelgrid {

class BlsClient {
 public:
  explicit BlsClient(int fd) : fd_(fd) {}  // takes `fd`
  ~BlsClient();
  BlsClient(const BlsClient&) = delete;
  BlsClient& operator=(const BlsClient&) = delete;

  // The model's outputs, or its error as the server gave it. kUnavailable when the server
  // is gone or gave no reply within kReplyTimeoutMs (the socket is then given up: a late
  // reply would answer the wrong call).
  Result<std::vector<HostTensor>> Call(const BlsCall& call);

  // A call waits this long for the server's reply (its queue and the callee's run).
  static constexpr int kReplyTimeoutMs = 600'000;

 private:
  std::mutex mu_;
  int fd_;  // -1 once given up
};

}  // namespace modelgrid
