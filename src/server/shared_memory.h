// Triton's system shared memory extension: clients register POSIX shared-memory objects
// (shm_open keys) as named regions, then name a region instead of sending a tensor's
// bytes, for inputs and outputs (see the extension's "shared_memory_region",
// "shared_memory_byte_size" and "shared_memory_offset" parameters).
//
// A region is read and written with pread/pwrite on its descriptor, never mapped: a client
// that truncates its object after registering gets a short read (an error for its request),
// not a SIGBUS in the server. Thread-safe; a region unregistered while a request uses it
// stays open until that request is done with it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/mutex.h"
#include "common/status.h"
#include "server/inference_service.h"

namespace modelgrid::server {

class SystemSharedMemory {
 public:
  // One registered region: [offset, offset + byte_size) of the object `key`.
  class Region {
   public:
    Region(std::string name, std::string key, uint64_t offset, uint64_t byte_size, int fd)
        : name_(std::move(name)),
          key_(std::move(key)),
          offset_(offset),
          byte_size_(byte_size),
          fd_(fd) {}
    ~Region();
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;

    // Reads `ref.byte_size` bytes at `ref.offset` of the region; kInvalidArgument when that
    // is outside the region or the object is shorter now.
    Result<std::string> Read(const SharedMemoryRef& ref) const;
    // Writes `bytes` at `ref.offset`; kInvalidArgument when they exceed `ref.byte_size` or
    // the region.
    Status Write(const SharedMemoryRef& ref, std::string_view bytes) const;
    nlohmann::json StatusJson() const;

   private:
    // Checks [offset, offset + bytes) against the region; the object's file offset.
    Result<uint64_t> Locate(const SharedMemoryRef& ref, uint64_t bytes) const;

    const std::string name_, key_;
    const uint64_t offset_, byte_size_;
    const int fd_;
  };

  // Registers `name` for `byte_size` bytes at `offset` of the object `key` (a shm_open name,
  // "/..."). kInvalidArgument for a name in use, when the object cannot be
  // opened or is shorter than offset + byte_size.
  Status Register(const std::string& name, const std::string& key, uint64_t offset,
                  uint64_t byte_size) EXCLUDES(mu_);
  // Unregisters `name` ("" = every region). Unknown names are not an error (as Triton).
  void Unregister(const std::string& name) EXCLUDES(mu_);
  // [{"name", "key", "offset", "byte_size"}] of `name` ("" = every region);
  // kInvalidArgument for an unknown name.
  Result<nlohmann::json> RegionStatus(const std::string& name) const EXCLUDES(mu_);
  // The region `name`, held for as long as the caller keeps it; kInvalidArgument when unknown.
  Result<std::shared_ptr<const Region>> Find(const std::string& name) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<const Region>> regions_ GUARDED_BY(mu_);
};

// The output regions of one request, held from before the request runs until its reply
// is written, by output name.
using OutputRegions = std::map<std::string, std::shared_ptr<const SystemSharedMemory::Region>>;

// What every front end does with a request's shared-memory references before running it:
// reads each input named in `request->input_regions` from its region into the tensor's
// data (checked as a body's bytes are), and returns the regions of
// `request->output_regions`. Errors name the tensor: kInvalidArgument for an unknown
// region or a reference outside it.
Result<OutputRegions> ResolveSharedMemory(const SystemSharedMemory& shm, InferRequest* request);

// After the run: writes each output of `regions` (found by name in `outputs`) at its
// reference in `refs`. kInternal when the model returned no such output.
Status WriteSharedMemoryOutputs(const OutputRegions& regions,
                                const std::map<std::string, SharedMemoryRef>& refs,
                                const std::vector<Tensor>& outputs);

}  // namespace modelgrid::server
