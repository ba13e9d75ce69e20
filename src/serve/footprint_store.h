// Measured footprints: the peak a worker's warm-up measured for a model, keyed by the
// model file's digest, batch, dtype and device. Kept in a JSON file so that the next plan
// prefers the measurement to the prediction. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "common/status.h"

namespace modelgrid {

struct FootprintKey {
  std::string digest;  // FileDigest() of the model file
  int64_t batch = 0;
  std::string dtype;   // "fp32", ...
  std::string device;  // "cpu", "H100-80GB", ...
  std::string ToString() const;
};

// A 64-bit FNV-1a digest of the file's size and bytes, as 16 hex digits. Files up to 16 MiB
// are read whole; larger ones (weights of many GiB, which took seconds each to read at
// every start) by their first and last 4 MiB and 32 evenly spaced 128 KiB pieces, about
// 12 MiB in all. Two files of one size that agree on all of those bytes share a digest; for
// model weights that means the same model.
Result<std::string> FileDigest(const std::string& path);

class FootprintStore {
 public:
  // Loads `path` when it exists; an unreadable or malformed file is an error (never
  // silently dropped). An empty path keeps the store in memory only.
  static Result<std::unique_ptr<FootprintStore>> Open(const std::string& path);

  std::optional<uint64_t> Get(const FootprintKey& key) const;
  // Records a measurement and rewrites the file atomically (write + rename).
  Status Put(const FootprintKey& key, uint64_t peak_bytes);

 private:
  explicit FootprintStore(std::string path) : path_(std::move(path)) {}
  std::string path_;
  mutable Mutex mu_;
  std::map<std::string, uint64_t> peaks_ GUARDED_BY(mu_);
};

}  // namespace modelgrid
