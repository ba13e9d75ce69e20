#include "gpu/device_usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "gpu/nvml_api.h"

namespace modelgrid {

namespace {

// ---- NVML ----

// More compute processes than this on one GPU means NVML is confused; give up listing.
constexpr unsigned int kMaxGpuProcesses = 65536;

// Lists the compute processes of `device`; false when NVML cannot.
bool QueryGpuProcesses(const nvml::NvmlApi& api, nvml::Device device,
                       std::vector<GpuProcessUsage>* out) {
  if (!api.device_get_compute_running_processes) return false;
  const size_t entry_bytes = api.processes_entry_bytes;
  if (entry_bytes != sizeof(nvml::ProcessInfoV1) && entry_bytes != sizeof(nvml::ProcessInfoV2)) {
    return false;
  }
  // Storage of the larger entry type, so that `capacity` entries of either size fit.
  std::vector<nvml::ProcessInfoV2> storage;
  unsigned int capacity = 0;
  // The list can grow between the sizing call and the fetch: retry a few times.
  for (int attempt = 0; attempt < 4; ++attempt) {
    unsigned int count = capacity;
    const nvml::Return rc = api.device_get_compute_running_processes(
        device, &count, capacity ? storage.data() : nullptr);
    if (rc == nvml::kSuccess) {
      const unsigned int n = count < capacity ? count : capacity;
      const auto* bytes = reinterpret_cast<const unsigned char*>(storage.data());
      for (unsigned int i = 0; i < n; ++i) {
        // Both layouts start with pid and usedGpuMemory at the same offsets.
        nvml::ProcessInfoV1 info{};
        std::memcpy(&info, bytes + i * entry_bytes, sizeof(info));
        GpuProcessUsage process;
        process.pid = info.pid;
        if (info.usedGpuMemory != nvml::kValueNotAvailable) process.used_bytes = info.usedGpuMemory;
        out->push_back(process);
      }
      return true;
    }
    if (rc != nvml::kErrorInsufficientSize || count > kMaxGpuProcesses) return false;
    capacity = count + 8;  // slack for processes that start meanwhile
    storage.assign(capacity, nvml::ProcessInfoV2{});
  }
  return false;
}

// ---- /proc text ----

// Calls `fn(line)` for each line of `text`, without the newline.
template <typename Fn>
void ForEachLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    if (!fn(line)) return;
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
}

std::string_view SkipSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// Parses a decimal uint64 at the start of `*s` and advances past it.
bool ConsumeUint(std::string_view* s, uint64_t* value) {
  const auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), *value);
  if (ec != std::errc() || ptr == s->data()) return false;
  s->remove_prefix(static_cast<size_t>(ptr - s->data()));
  return true;
}

// The value of a "Key:   123 kB" line, in bytes (no unit: bytes as written).
// nullopt with *malformed=false when `key` is absent; *malformed=true when present but bad.
std::optional<uint64_t> FindKeyBytes(std::string_view text, std::string_view key, bool* malformed) {
  std::optional<uint64_t> result;
  *malformed = false;
  ForEachLine(text, [&](std::string_view line) {
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') {
      return true;
    }
    std::string_view rest = SkipSpaces(line.substr(key.size() + 1));
    uint64_t value = 0;
    if (!ConsumeUint(&rest, &value)) {
      *malformed = true;
      return false;
    }
    rest = SkipSpaces(rest);
    uint64_t scale = 1;
    if (rest == "kB") {
      scale = 1024;
    } else if (!rest.empty() && rest != "\r") {
      *malformed = true;
      return false;
    }
    if (value > std::numeric_limits<uint64_t>::max() / scale) {
      *malformed = true;
      return false;
    }
    result = value * scale;
    return false;
  });
  return result;
}

Result<uint64_t> FindRequiredBytes(std::string_view text, std::string_view key,
                                   std::string_view file) {
  bool malformed = false;
  auto value = FindKeyBytes(text, key, &malformed);
  if (malformed) {
    return CorruptData(std::string(file) + ": malformed " + std::string(key) + " line");
  }
  if (!value) return NotFound(std::string(file) + " has no " + std::string(key) + " line");
  return *value;
}

// Reads a /proc file (whose stat size is 0) up to `max_bytes`. errno-style failure as
// kNotFound (ENOENT/ESRCH) or kUnavailable.
Result<std::string> ReadProcFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string why = path + ": " + std::strerror(err);
    return err == ENOENT || err == ESRCH ? NotFound(why) : Status(StatusCode::kUnavailable, why);
  }
  std::string out;
  char buffer[4096];
  while (out.size() < max_bytes) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status(err == ESRCH ? StatusCode::kNotFound : StatusCode::kUnavailable,
                    path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (out.size() > max_bytes) out.resize(max_bytes);
  return out;
}

constexpr size_t kMaxProcFileBytes = 1 << 20;    // far above any status/meminfo file
constexpr size_t kProcStatHeadBytes = 64 << 10;  // the aggregate cpu line comes first

std::string ProcPath(pid_t pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

// Every numeric entry of /proc; empty when /proc cannot be listed.
std::vector<pid_t> ListPids() {
  std::vector<pid_t> pids;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc"), ::closedir);
  if (!dir) return pids;
  while (const dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    uint64_t pid = 0;
    if (!ConsumeUint(&name, &pid) || !name.empty() ||
        pid > static_cast<uint64_t>(std::numeric_limits<pid_t>::max())) {
      continue;
    }
    pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

}  // namespace

Result<std::vector<GpuUsage>> QueryGpuUsage() {
  auto opened = nvml::NvmlApi::Open();
  if (!opened.ok()) return opened.status();
  const nvml::NvmlApi& api = **opened;
  unsigned int count = 0;
  if (api.device_get_count(&count) != nvml::kSuccess) {
    return Status(StatusCode::kUnavailable, "NVML could not count the GPUs");
  }
  if (count == 0) return Status(StatusCode::kUnavailable, "NVML reports no GPUs on this machine");
  std::vector<GpuUsage> gpus;
  for (unsigned int i = 0; i < count; ++i) {
    nvml::Device device = nullptr;
    nvml::Memory memory{};
    if (api.device_get_handle_by_index(i, &device) != nvml::kSuccess ||
        api.device_get_memory_info(device, &memory) != nvml::kSuccess) {
      return Status(StatusCode::kUnavailable, "NVML cannot query GPU " + std::to_string(i));
    }
    GpuUsage gpu;
    gpu.index = static_cast<int>(i);
    gpu.total_bytes = memory.total;
    gpu.used_bytes = memory.used;
    // NVML writes NUL-terminated strings within the given length; the extra byte keeps
    // the buffers terminated even if a driver does not.
    char name[nvml::kNameBufferSize + 1] = {};
    gpu.name = api.device_get_name(device, name, nvml::kNameBufferSize) == nvml::kSuccess
                   ? name
                   : "unknown";
    char uuid[nvml::kUuidBufferSize + 1] = {};
    if (api.device_get_uuid &&
        api.device_get_uuid(device, uuid, nvml::kUuidBufferSize) == nvml::kSuccess) {
      gpu.uuid = uuid;
    }
    nvml::Utilization util{};
    if (api.device_get_utilization_rates &&
        api.device_get_utilization_rates(device, &util) == nvml::kSuccess && util.gpu <= 100) {
      gpu.utilization_percent = static_cast<int>(util.gpu);
    }
    gpu.processes_known = QueryGpuProcesses(api, device, &gpu.processes);
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

Result<HostMemory> ParseMeminfo(std::string_view text) {
  MG_ASSIGN_OR_RETURN(uint64_t total, FindRequiredBytes(text, "MemTotal", "/proc/meminfo"));
  HostMemory memory;
  memory.total_bytes = total;
  auto available = FindRequiredBytes(text, "MemAvailable", "/proc/meminfo");
  if (available.ok()) {
    memory.available_bytes = *available;
  } else if (available.status().code() == StatusCode::kNotFound) {
    // Kernels before 3.14 have no MemAvailable: approximate it as free + page cache.
    MG_ASSIGN_OR_RETURN(uint64_t free, FindRequiredBytes(text, "MemFree", "/proc/meminfo"));
    uint64_t sum = free;
    for (const char* key : {"Buffers", "Cached"}) {
      auto part = FindRequiredBytes(text, key, "/proc/meminfo");
      if (part.ok() && *part <= total) sum += *part;
    }
    memory.available_bytes = sum < total ? sum : total;
  } else {
    return available.status();
  }
  if (memory.available_bytes > memory.total_bytes) {
    return CorruptData("/proc/meminfo: MemAvailable exceeds MemTotal");
  }
  memory.used_bytes = memory.total_bytes - memory.available_bytes;
  return memory;
}

Result<HostMemory> QueryHostMemory() {
  auto text = ReadProcFile("/proc/meminfo", kMaxProcFileBytes);
  if (!text.ok()) return Status(StatusCode::kUnavailable, text.status().message());
  return ParseMeminfo(*text);
}

Result<CpuTimes> ParseProcStatCpu(std::string_view text) {
  std::optional<std::string_view> cpu_line;
  ForEachLine(text, [&](std::string_view line) {
    if (line.size() > 4 && line.substr(0, 4) == "cpu ") {
      cpu_line = line.substr(4);
      return false;
    }
    return true;
  });
  if (!cpu_line) return CorruptData("/proc/stat has no aggregate cpu line");
  // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
  // already inside user and nice, so it is not added again. Old kernels have only four.
  uint64_t fields[8] = {};
  std::string_view rest = *cpu_line;
  int n = 0;
  for (; n < 8; ++n) {
    rest = SkipSpaces(rest);
    if (rest.empty() || rest == "\r") break;
    if (!ConsumeUint(&rest, &fields[n])) return CorruptData("/proc/stat: malformed cpu line");
  }
  if (n < 4) return CorruptData("/proc/stat: cpu line has fewer than 4 fields");
  CpuTimes times;
  for (uint64_t f : fields) {
    if (f > std::numeric_limits<uint64_t>::max() - times.total_ticks) {
      return CorruptData("/proc/stat: cpu tick counts overflow");
    }
    times.total_ticks += f;
  }
  times.busy_ticks = times.total_ticks - fields[3] - fields[4];
  return times;
}

double CpuUtilization::Sample() {
  auto text = ReadProcFile("/proc/stat", kProcStatHeadBytes);
  if (!text.ok()) return 0;
  auto now = ParseProcStatCpu(*text);
  if (!now.ok()) return 0;
  const std::optional<CpuTimes> before = previous_;
  previous_ = *now;
  if (!before || now->total_ticks <= before->total_ticks || now->busy_ticks < before->busy_ticks) {
    return 0;  // first sample, no time passed, or counters went backwards (CPU hot-unplug)
  }
  const double busy = static_cast<double>(now->busy_ticks - before->busy_ticks);
  const double total = static_cast<double>(now->total_ticks - before->total_ticks);
  return busy >= total ? 1.0 : busy / total;
}

Result<uint64_t> ParseStatusRss(std::string_view text) {
  return FindRequiredBytes(text, "VmRSS", "/proc/PID/status");
}

Result<uint64_t> ParseSmapsRollupRss(std::string_view text) {
  return FindRequiredBytes(text, "Rss", "/proc/PID/smaps_rollup");
}

Result<pid_t> ParseStatPpid(std::string_view text) {
  // "PID (COMM) STATE PPID ...": COMM may hold anything, so search from the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return CorruptData("/proc/PID/stat: no ')'");
  std::string_view rest = SkipSpaces(text.substr(close + 1));
  if (rest.empty()) return CorruptData("/proc/PID/stat: no state");
  rest.remove_prefix(1);  // the one-letter state
  if (rest.empty() || rest.front() != ' ') return CorruptData("/proc/PID/stat: bad state");
  rest = SkipSpaces(rest);
  uint64_t ppid = 0;
  if (!ConsumeUint(&rest, &ppid) ||
      ppid > static_cast<uint64_t>(std::numeric_limits<pid_t>::max())) {
    return CorruptData("/proc/PID/stat: malformed ppid");
  }
  return static_cast<pid_t>(ppid);
}

Result<uint64_t> ProcessRssBytes(pid_t pid) {
  if (pid <= 0) return InvalidArgument("pid " + std::to_string(pid) + " is not a process id");
  auto status = ReadProcFile(ProcPath(pid, "status"), kMaxProcFileBytes);
  if (!status.ok()) {
    return NotFound("process " + std::to_string(pid) + ": " + status.status().message());
  }
  auto rss = ParseStatusRss(*status);
  if (rss.ok()) return rss;
  auto rollup = ReadProcFile(ProcPath(pid, "smaps_rollup"), kMaxProcFileBytes);
  if (rollup.ok()) {
    auto from_rollup = ParseSmapsRollupRss(*rollup);
    if (from_rollup.ok()) return from_rollup;
  }
  return uint64_t{0};  // no address space: a zombie or a kernel thread
}

Result<uint64_t> ProcessTreeRssBytes(pid_t pid) {
  MG_ASSIGN_OR_RETURN(uint64_t total, ProcessRssBytes(pid));
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  for (pid_t p : ListPids()) {
    auto stat = ReadProcFile(ProcPath(p, "stat"), 4096);
    if (!stat.ok()) continue;  // exited meanwhile
    auto ppid = ParseStatPpid(*stat);
    if (ppid.ok() && p != pid) children[*ppid].push_back(p);
  }
  // Breadth-first over descendants; `seen` guards against cycles from pid reuse races.
  std::unordered_set<pid_t> seen = {pid};
  std::vector<pid_t> frontier = {pid};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    auto it = children.find(parent);
    if (it == children.end()) continue;
    for (pid_t child : it->second) {
      if (!seen.insert(child).second) continue;
      frontier.push_back(child);
      auto rss = ProcessRssBytes(child);
      if (rss.ok()) total += *rss;  // a child that exited meanwhile counts as 0
    }
  }
  return total;
}

}  // namespace modelgrid
