#include "serve/footprint_store.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/byte_reader.h"

namespace modelgrid {

std::string FootprintKey::ToString() const {
  return digest + "/b" + std::to_string(batch) + "/" + dtype + "/" + device;
}

namespace {

constexpr uint64_t kWholeFileBytes = uint64_t{16} << 20;
constexpr uint64_t kEdgeBytes = uint64_t{4} << 20;
constexpr uint64_t kSamples = 32;
constexpr uint64_t kSampleBytes = uint64_t{128} << 10;

// Folds [off, off + n) of the file into the FNV-1a state `h`.
Status HashRange(ByteReader& reader, uint64_t off, uint64_t n, std::vector<unsigned char>& buf,
                 uint64_t& h) {
  for (uint64_t done = 0; done < n;) {
    const uint64_t chunk = std::min<uint64_t>(buf.size(), n - done);
    MG_RETURN_IF_ERROR(reader.ReadAt(off + done, chunk, buf.data()));
    for (uint64_t i = 0; i < chunk; ++i) h = (h ^ buf[i]) * 1099511628211ull;
    done += chunk;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> FileDigest(const std::string& path) {
  MG_ASSIGN_OR_RETURN(auto reader, FileByteReader::Open(path));
  uint64_t h = 1469598103934665603ull;
  std::vector<unsigned char> buf(1 << 20);
  const uint64_t size = reader->size();
  if (size <= kWholeFileBytes) {
    MG_RETURN_IF_ERROR(HashRange(*reader, 0, size, buf, h));
  } else {
    MG_RETURN_IF_ERROR(HashRange(*reader, 0, kEdgeBytes, buf, h));
    const uint64_t middle = size - 2 * kEdgeBytes;
    for (uint64_t k = 0; k < kSamples; ++k) {
      const uint64_t off = kEdgeBytes + (middle - kSampleBytes) / (kSamples - 1) * k;
      MG_RETURN_IF_ERROR(HashRange(*reader, off, kSampleBytes, buf, h));
    }
    MG_RETURN_IF_ERROR(HashRange(*reader, size - kEdgeBytes, kEdgeBytes, buf, h));
  }
  h ^= size;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(hex);
}

Result<std::unique_ptr<FootprintStore>> FootprintStore::Open(const std::string& path) {
  std::unique_ptr<FootprintStore> store(new FootprintStore(path));
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return store;
  MG_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 64 << 20));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(path + " is not a JSON object of measured footprints");
  }
  MutexLock lock(&store->mu_);  // not shared yet; held for the analysis
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_number_unsigned())
      return InvalidArgument(path + ": '" + it.key() + "' is not bytes");
    store->peaks_[it.key()] = it->get<uint64_t>();
  }
  return store;
}

std::optional<uint64_t> FootprintStore::Get(const FootprintKey& key) const {
  MutexLock lock(&mu_);
  auto it = peaks_.find(key.ToString());
  if (it == peaks_.end()) return std::nullopt;
  return it->second;
}

Status FootprintStore::Put(const FootprintKey& key, uint64_t peak_bytes) {
  MutexLock lock(&mu_);
  peaks_[key.ToString()] = peak_bytes;
  if (path_.empty()) return Status::Ok();
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json(peaks_).dump(1) << "\n";
    if (!out) return Internal("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) return Internal("cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

}  // namespace modelgrid
