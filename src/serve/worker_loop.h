// The worker process's main loop: attaches the shared-memory segment the server created,
// hosts model instances through a backend, and answers requests until told to stop.
// LibTorch-free: the backend comes in through backends/backend.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace modelgrid {

struct WorkerLoopOptions {
  int shm_fd = -1;  // the segment descriptor inherited from the server
  // eventfds rung after a reply the server sleeps for, one per server event loop (or none)
  std::vector<int> doorbell_fds;
  std::string name;             // for log lines
  uint32_t heartbeat_ms = 100;  // beat period
  uint32_t max_model_slots = 1024;
};

// Runs until kShutdown (returns 0) or until the segment is unusable (returns 3 after
// printing why). Requests are served one at a time, in ring order.
int RunWorker(const WorkerLoopOptions& options, Backend& backend);

}  // namespace modelgrid
