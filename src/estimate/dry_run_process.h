// The estimator's dry runs in a sandboxed child process: `modelgrid-worker dry-run`, so that
// neither `modelgrid` nor the server ever runs model code. The child loads the TorchScript
// model with LibTorch, runs its forward passes, prints the trace as JSON and exits; it has
// no capabilities, no way to gain privileges (no_new_privs), a memory limit and a deadline,
// and dies with its parent. A model that crashes it, exhausts its memory or hangs fails its
// own estimate (kInvalidArgument), nothing else.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "estimate/dry_run.h"

namespace modelgrid {

struct DryRunSandbox {
  std::string worker_executable;  // modelgrid-worker
  // The child's RLIMIT_DATA (heap and private mappings): 8 GiB, over ten times the dry run
  // of the largest measured vision model at batch 32, and a third of this machine's memory.
  // Not set in AddressSanitizer builds (common/sanitizers.h).
  uint64_t memory_bytes = uint64_t{8} << 30;
  // Loading LibTorch and the model and two small forward passes take seconds on 2 cores;
  // two minutes means a hang.
  int64_t timeout_ms = 120'000;
  // The most the child may print: a trace of a few million events.
  uint64_t max_output_bytes = uint64_t{64} << 20;
};

// A DryRunner that runs each dry run in its own child. Thread-safe (each call forks).
DryRunner SandboxedDryRunner(DryRunSandbox sandbox);

// As SandboxedDryRunner, but keeps one child started ahead (it reads its request from
// stdin), so that a dry run skips the process start and LibTorch's load (~0.6 s on 2 cores):
// for servers that must answer estimates quickly (ModelMesh's predictModelSize). The spare
// is a sandboxed child like the others, idle until used, killed with the runner or its
// parent. Thread-safe; concurrent calls beyond the one spare start children of their own.
DryRunner WarmSandboxedDryRunner(DryRunSandbox sandbox);

// Runs `sandbox.worker_executable args...` in a sandboxed child as the dry runs are, and
// returns the one JSON object it printed (ServeSandboxedAnswer). An {"error", "code"} answer
// is that Status; a crash, a hang past the deadline or too much output is kInvalidArgument
// naming `what`; a worker that cannot be run is kUnavailable. Thread-safe (each call forks).
Result<nlohmann::json> RunSandboxedJson(const DryRunSandbox& sandbox,
                                        const std::vector<std::string>& args,
                                        const std::string& what);

// The child's side of RunSandboxedJson: prints answer()'s object, or {"error", "code"}, as
// the only thing on stdout (what the model prints goes to stderr). 0 when it was written.
int ServeSandboxedAnswer(const std::function<Result<nlohmann::json>()>& answer);

// `modelgrid-worker` beside the running executable, or $MODELGRID_WORKER when set.
std::string DefaultWorkerExecutable();

// The child's side: runs `request` (DryRunOptionsToJson) with `run` and prints one JSON
// object to stdout, the result or {"error", "code"}. Returns the exit code (0 either way:
// the answer says what happened; 2 when the request itself is malformed).
int ServeDryRunRequest(const std::string& request, const DryRunner& run);

}  // namespace modelgrid
