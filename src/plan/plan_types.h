// What the planner takes and what it returns. Plain data; see planner.h for the contract.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgrid {

enum class Isolation {
  kShared,   // shares the one shared worker (one CUDA context) of its GPU
  kProcess,  // gets a worker process, and a CUDA context, of its own
};

// "shared" / "process".
const char* IsolationName(Isolation isolation);

struct ModelRequest {
  std::string name;              // unique within one plan
  uint64_t footprint_bytes = 0;  // one instance's GPU memory without the CUDA context
  // The part of footprint_bytes (<= it) that exists only during a forward pass
  // (activations, KV cache, workspaces, transient allocator slack). A shared worker runs
  // one request at a time, so its models reuse these bytes: its peak is its context plus
  // every model's resident part (footprint - transient) plus the largest transient. 0
  // means all resident, the conservative default.
  uint64_t transient_bytes = 0;
  Isolation isolation = Isolation::kShared;
  bool latency_sensitive = false;
  int replicas = 1;            // instances, each on a distinct GPU
  double expected_load = 1.0;  // relative request rate of the model (all replicas)
};

enum class Strategy {
  kFillFirst,         // first fit in the given order: fill each GPU before the next
  kBalanceLoad,       // largest first onto the GPU with the least memory + load share
  kMemoryOptimized,   // best-fit decreasing: most models in the least memory
  kLatencySensitive,  // latency-sensitive models first, alone on the least contended GPUs
  kOptimal,           // exact branch and bound on GPUs used, within a time limit
  kConventional,      // one process per model, first fit: what common servers do
};

// A worker's peak is context_bytes + sum(model_bytes - transient_bytes) +
// transient_peak_bytes: its models run one at a time and reuse their transient bytes.
struct PlannedWorker {
  Isolation isolation = Isolation::kShared;
  uint64_t context_bytes = 0;
  std::vector<std::string> models;        // instance names ("bert" or "bert#2" for replicas)
  std::vector<uint64_t> model_bytes;      // footprint of each, same order
  std::vector<uint64_t> transient_bytes;  // the transient part of each footprint, same order
  uint64_t transient_peak_bytes = 0;      // the largest of transient_bytes (0 when none)
};

struct PlannedGpu {
  int index = 0;
  std::string name;
  uint64_t capacity_bytes = 0;
  uint64_t reserve_bytes = 0;          // counted in planned_bytes once the GPU hosts a worker
  uint64_t planned_bytes = 0;          // sum of the workers' peaks + reserve; <= capacity_bytes
  double load = 0;                     // sum of expected load of the instances here
  std::vector<PlannedWorker> workers;  // shared worker first, then one per process model
};

struct UnplacedModel {
  std::string name;  // instance name, as in PlannedWorker::models
  std::string reason;
};

// A model kept in host memory instead of on a GPU (modelgrid plan --host-cache): its weights
// and buffers parked there, copied to its GPU when a request needs it, after parking idle
// resident models of that GPU's shared worker to make room.
struct ParkedModel {
  std::string name;              // as in ModelRequest::name
  int gpu = 0;                   // the GPU it swaps into (PlannedGpu::index)
  uint64_t parked_bytes = 0;     // held in host memory: its resident part (footprint - transient)
  uint64_t footprint_bytes = 0;  // what it needs on the GPU once swapped in
  double swap_in_seconds = 0;    // parked_bytes over the GPU's host link: a lower bound
  std::string link;              // that link ("PCIe Gen5 x16")
};

struct Plan {
  std::string strategy;          // "fill-first", ...
  std::vector<PlannedGpu> gpus;  // every GPU of the inventory, in index order
  std::vector<UnplacedModel> unplaced;
  // With a host cache: the models that did not fit and wait in host memory, and the bytes
  // they hold of the cache's.
  std::vector<ParkedModel> parked;
  uint64_t host_cache_bytes = 0;
  uint64_t host_cache_used_bytes = 0;
  int lower_bound_gpus = 0;     // no plan placing every instance uses fewer GPUs
  bool proven_optimal = false;  // every instance placed on lower-bound-proven GPUs
  int placed_instances = 0;
  int gpus_used = 0;
  int contexts = 0;  // workers in all
  double elapsed_seconds = 0;
};

}  // namespace modelgrid
