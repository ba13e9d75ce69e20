#include "server/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/tensor_codec.h"

namespace modelgrid::server {

using nlohmann::json;

namespace {

// The largest region: more than any tensor the server takes (a body is 64 MiB by default).
constexpr uint64_t kMaxRegionBytes = uint64_t{1} << 40;

}  // namespace

SystemSharedMemory::Region::~Region() { ::close(fd_); }

Result<uint64_t> SystemSharedMemory::Region::Locate(const SharedMemoryRef& ref,
                                                    uint64_t bytes) const {
  if (ref.offset > byte_size_ || bytes > byte_size_ - ref.offset) {
    return InvalidArgument("shared memory region '" + name_ + "' holds " +
                           std::to_string(byte_size_) + " bytes; " + std::to_string(bytes) +
                           " at offset " + std::to_string(ref.offset) + " do not fit");
  }
  return offset_ + ref.offset;
}

Result<std::string> SystemSharedMemory::Region::Read(const SharedMemoryRef& ref) const {
  MG_ASSIGN_OR_RETURN(uint64_t at, Locate(ref, ref.byte_size));
  std::string out(ref.byte_size, '\0');
  uint64_t done = 0;
  while (done < ref.byte_size) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, ref.byte_size - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return InvalidArgument("shared memory region '" + name_ + "': only " + std::to_string(done) +
                             " of " + std::to_string(ref.byte_size) +
                             " bytes could be read (was its object truncated?)");
    }
    done += static_cast<uint64_t>(n);
  }
  return out;
}

Status SystemSharedMemory::Region::Write(const SharedMemoryRef& ref, std::string_view bytes) const {
  if (bytes.size() > ref.byte_size) {
    return InvalidArgument("the output takes " + std::to_string(bytes.size()) +
                           " bytes; shared_memory_byte_size is " + std::to_string(ref.byte_size));
  }
  MG_ASSIGN_OR_RETURN(uint64_t at, Locate(ref, bytes.size()));
  uint64_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status(StatusCode::kInternal,
                    "shared memory region '" + name_ + "': write failed: " + std::strerror(errno));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

json SystemSharedMemory::Region::StatusJson() const {
  return {{"name", name_}, {"key", key_}, {"offset", offset_}, {"byte_size", byte_size_}};
}

Status SystemSharedMemory::Register(const std::string& name, const std::string& key,
                                    uint64_t offset, uint64_t byte_size) {
  if (name.empty()) return InvalidArgument("a shared memory region needs a name");
  if (key.size() < 2 || key[0] != '/' || key.find('/', 1) != std::string::npos ||
      key.size() > 255) {
    return InvalidArgument("shared memory key '" + key +
                           "' is not a POSIX shared memory name (\"/name\", no other '/')");
  }
  if (byte_size == 0 || byte_size > kMaxRegionBytes || offset > kMaxRegionBytes) {
    return InvalidArgument("shared memory region '" + name + "': byte_size must be 1.." +
                           std::to_string(kMaxRegionBytes) + " and offset at most that");
  }
  {
    MutexLock lock(&mu_);
    if (regions_.count(name)) {
      return InvalidArgument("shared memory region '" + name + "' is already registered");
    }
  }
  const int fd = ::shm_open(key.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) {
    return InvalidArgument("cannot open shared memory '" + key + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) < offset + byte_size) {
    ::close(fd);
    return InvalidArgument(
        "shared memory '" + key + "' holds " + std::to_string(st.st_size) +
        " bytes, fewer than offset + byte_size = " + std::to_string(offset + byte_size));
  }
  auto region = std::make_shared<const Region>(name, key, offset, byte_size, fd);
  MutexLock lock(&mu_);
  if (!regions_.emplace(name, std::move(region)).second) {
    return InvalidArgument("shared memory region '" + name + "' is already registered");
  }
  return Status::Ok();
}

void SystemSharedMemory::Unregister(const std::string& name) {
  MutexLock lock(&mu_);
  if (name.empty()) {
    regions_.clear();
  } else {
    regions_.erase(name);
  }
}

Result<json> SystemSharedMemory::RegionStatus(const std::string& name) const {
  MutexLock lock(&mu_);
  json out = json::array();
  if (name.empty()) {
    for (const auto& [n, r] : regions_) out.push_back(r->StatusJson());
    return out;
  }
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return InvalidArgument("no shared memory region '" + name + "' is registered");
  }
  out.push_back(it->second->StatusJson());
  return out;
}

Result<std::shared_ptr<const SystemSharedMemory::Region>> SystemSharedMemory::Find(
    const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return InvalidArgument("no shared memory region '" + name + "' is registered");
  }
  return it->second;
}

Result<OutputRegions> ResolveSharedMemory(const SystemSharedMemory& shm, InferRequest* request) {
  for (Tensor& t : request->inputs) {
    auto ref = request->input_regions.find(t.name);
    if (ref == request->input_regions.end()) continue;
    const std::string where = "input \"" + t.name + "\"";
    auto region = shm.Find(ref->second.region);
    if (!region.ok()) return region.status().WithContext(where);
    auto bytes = (*region)->Read(ref->second);
    if (!bytes.ok()) return bytes.status().WithContext(where);
    t.data = std::move(bytes).value();
    MG_RETURN_IF_ERROR(ValidateTensorData(t).WithContext(where + " (shared memory)"));
  }
  OutputRegions out;
  for (const auto& [name, ref] : request->output_regions) {
    auto region = shm.Find(ref.region);
    if (!region.ok()) return region.status().WithContext("output \"" + name + "\"");
    out[name] = *region;
  }
  return out;
}

Status WriteSharedMemoryOutputs(const OutputRegions& regions,
                                const std::map<std::string, SharedMemoryRef>& refs,
                                const std::vector<Tensor>& outputs) {
  for (const auto& [output, region] : regions) {
    const std::string& name = output;  // a lambda cannot capture a structured binding (C++20)
    auto t = std::find_if(outputs.begin(), outputs.end(),
                          [&](const Tensor& o) { return o.name == name; });
    if (t == outputs.end()) return Internal("the model returned no output \"" + name + "\"");
    MG_RETURN_IF_ERROR(
        region->Write(refs.at(name), t->data).WithContext("output \"" + name + "\""));
  }
  return Status::Ok();
}

}  // namespace modelgrid::server
