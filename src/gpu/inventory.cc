#include "gpu/inventory.h"

#include <cctype>
#include <cstdio>
#include <limits>
#include <string>

#include "common/byte_size.h"
#include "gpu/gpu_catalog.h"
#include "gpu/nvml_api.h"

namespace modelgrid {

namespace {

constexpr uint64_t kMaxGpuBytes = uint64_t{64} << 40;  // 64 TiB: no GPU is near this

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A term's body names a size, not a GPU, when it starts with a digit and ends in a unit:
// "80GiB", "24 GB", "1.5TiB", "85899345920B" (a catalog alias such as "4090" has none).
bool IsSize(const std::string& body) {
  return !body.empty() && (std::isdigit(static_cast<unsigned char>(body[0])) || body[0] == '.') &&
         HasByteSizeUnit(body);
}

// The capacity of a sized GPU: 1 MiB .. 64 TiB.
Result<uint64_t> GpuSize(const std::string& body) {
  auto bytes = ParseByteSize(body, std::numeric_limits<uint64_t>::max());
  if (!bytes.ok()) return bytes.status();
  if (*bytes < (uint64_t{1} << 20) || *bytes > kMaxGpuBytes) {
    return InvalidArgument("size " + body + " is out of range (1 MiB .. 64 TiB)");
  }
  return *bytes;
}

std::string KnownNames() {
  std::string out;
  for (const auto& gpu : GpuCatalog()) out += (out.empty() ? "" : ", ") + gpu.name;
  return out;
}

}  // namespace

Result<std::vector<GpuDevice>> ParseGpuSpec(std::string_view spec) {
  std::vector<GpuDevice> gpus;
  if (Trim(spec).empty()) {
    return InvalidArgument("empty GPU spec; expected e.g. 2xH100-80GB,1xL4 or 4x80GiB");
  }
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string term = Trim(spec.substr(pos, comma - pos));
    pos = comma + 1;
    auto bad = [&](const std::string& why) {
      return InvalidArgument("GPU spec term '" + term + "': " + why);
    };
    if (term.empty()) return bad("empty term (stray comma?)");
    // Optional COUNTx prefix.
    int64_t count = 1;
    std::string body = term;
    size_t x = 0;
    while (x < term.size() && (std::isdigit(static_cast<unsigned char>(term[x])) ||
                               term[x] == '-' || term[x] == '+')) {
      ++x;
    }
    if (x > 0 && x < term.size() && (term[x] == 'x' || term[x] == 'X')) {
      const std::string digits = term.substr(0, x);
      if (!AllDigits(digits)) return bad("count '" + digits + "' must be a positive integer");
      if (digits.size() > 6 || std::stoll(digits) > kMaxGpus) {
        return bad("count " + digits + " exceeds " + std::to_string(kMaxGpus));
      }
      count = std::stoll(digits);
      if (count <= 0) return bad("count must be at least 1");
      body = Trim(term.substr(x + 1));
    }
    if (body.empty()) return bad("missing GPU name or size after the count");
    GpuDevice device;
    if (IsSize(body)) {
      auto bytes = GpuSize(body);
      if (!bytes.ok()) return bad(bytes.status().message());
      device.name = body;
      device.capacity_bytes = *bytes;
      device.context_bytes = DefaultGpu().context_bytes;
    } else if (const GpuModel* model = FindGpu(body)) {
      device.name = model->name;
      device.capacity_bytes = model->memory_bytes;
      device.context_bytes = model->context_bytes;
    } else {
      return bad("unknown GPU '" + body + "'; use a size such as 80GiB or one of: " + KnownNames());
    }
    device.free_bytes = device.capacity_bytes;
    if (static_cast<int64_t>(gpus.size()) + count > kMaxGpus) {
      return bad("the spec describes more than " + std::to_string(kMaxGpus) + " GPUs");
    }
    for (int64_t i = 0; i < count; ++i) {
      device.index = static_cast<int>(gpus.size());
      gpus.push_back(device);
    }
  }
  return gpus;
}

Result<std::vector<GpuDevice>> DiscoverNvmlGpus() {
  constexpr const char* kHint =
      "; pass a virtual GPU spec such as --gpus 2xH100-80GB or --gpus 4x80GiB";
  auto opened = nvml::NvmlApi::Open();
  if (!opened.ok()) {
    return Status(opened.status().code(), opened.status().message() + kHint);
  }
  const nvml::NvmlApi& api = **opened;
  unsigned int count = 0;
  if (api.device_get_count(&count) != nvml::kSuccess) {
    return Status(StatusCode::kUnavailable, "NVML could not count the GPUs");
  }
  std::vector<GpuDevice> gpus;
  for (unsigned int i = 0; i < count; ++i) {
    nvml::Device device = nullptr;
    nvml::Memory memory{};
    char name[nvml::kNameBufferSize] = {};
    if (api.device_get_handle_by_index(i, &device) != nvml::kSuccess ||
        api.device_get_memory_info(device, &memory) != nvml::kSuccess) {
      return Status(StatusCode::kUnavailable, "NVML cannot query GPU " + std::to_string(i));
    }
    GpuDevice gpu;
    gpu.index = static_cast<int>(i);
    gpu.name = api.device_get_name(device, name, sizeof(name)) == nvml::kSuccess ? name : "unknown";
    gpu.capacity_bytes = memory.total;
    gpu.free_bytes = memory.free;
    nvml::Utilization util{};
    if (api.device_get_utilization_rates &&
        api.device_get_utilization_rates(device, &util) == nvml::kSuccess) {
      gpu.utilization_percent = static_cast<int>(util.gpu);
    }
    const GpuModel* model = FindGpu(gpu.name);
    gpu.context_bytes = model ? model->context_bytes : DefaultGpu().context_bytes;
    gpu.is_virtual = false;
    gpus.push_back(gpu);
  }
  if (gpus.empty()) {
    return Status(StatusCode::kUnavailable,
                  "NVML reports no GPUs on this machine; pass a virtual GPU spec such as "
                  "--gpus 4x80GiB");
  }
  return gpus;
}

Result<std::vector<GpuDevice>> ResolveGpus(std::string_view spec) {
  if (Trim(spec) == "auto") return DiscoverNvmlGpus();
  return ParseGpuSpec(spec);
}

}  // namespace modelgrid
