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
  // Threads that run requests: with 1, one request at a time; with more, different slots
  // (and the instances of one slot) run side by side.
  int execution_threads = 1;
  // The worker's end of its BLS socket (serve/bls_wire.h), or -1: BLS calls then reach
  // only this worker's own models.
  int bls_fd = -1;
};

// Runs until kShutdown or SIGUSR1 (returns 0, after finishing what it accepted; the models
// are unloaded on the way out) or until the segment is unusable (returns 3 after printing
// why). Requests run on a SlotScheduler of
// `execution_threads` threads; kPing is answered at once.
// `bls`, when given, is bound to the worker's own models for the loop's duration: a BLS
// call runs the named model of this worker in the caller's thread (see Worker::CallLocal).
int RunWorker(const WorkerLoopOptions& options, Backend& backend, BlsRouter* bls = nullptr);

}  // namespace modelgrid
