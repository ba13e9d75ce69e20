#include "estimate/report.h"

#include <cstdio>

namespace modelgrid {

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 4) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  }
  return buf;
}

nlohmann::json EstimateToJson(const Estimate& e) {
  nlohmann::json j;
  j["format"] = e.format;
  j["gpu"] = e.gpu;
  j["device"] = e.host ? "cpu" : "cuda";
  j["batch"] = e.batch;
  j["sequence"] = e.sequence;
  j["dtype"] = std::string(ComputeDTypeName(e.dtype));
  j["weights_as_stored"] = e.weights_as_stored;
  j["parameters"] = e.parameters;
  j["weights_bytes"] = e.weights_bytes;
  j["activation_bytes"] = e.activation_bytes;
  j["kv_cache_bytes"] = e.kv_cache_bytes;
  j["workspace_bytes"] = e.workspace_bytes;
  j["context_bytes"] = e.context_bytes;
  j["total_bytes"] = e.total_bytes;
  j["details"] = {{"cublas_workspace_bytes", e.cublas_workspace_bytes},
                  {"cudnn_workspace_bytes", e.cudnn_workspace_bytes},
                  {"allocator_slack_bytes", e.allocator_slack_bytes},
                  {"peak_reserved_bytes", e.peak_reserved_bytes}};
  j["sources"] = {{"weights", e.weights_source},
                  {"activations", e.activation_source},
                  {"runtime", e.runtime_source}};
  j["assumptions"] = e.assumptions;
  return j;
}

std::string EstimateToTable(const std::string& path, const Estimate& e) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%s  (%s, %llu parameters)\n", path.c_str(), e.format.c_str(),
                static_cast<unsigned long long>(e.parameters));
  out += line;
  std::snprintf(line, sizeof line, "batch %lld, sequence %lld, dtype %s, %s %s\n\n",
                static_cast<long long>(e.batch), static_cast<long long>(e.sequence),
                std::string(ComputeDTypeName(e.dtype)).c_str(), e.host ? "device" : "GPU",
                e.gpu.c_str());
  out += line;
  auto row = [&](const char* term, uint64_t bytes, const std::string& source) {
    std::snprintf(line, sizeof line, "  %-12s %14llu  %12s  %s\n", term,
                  static_cast<unsigned long long>(bytes), HumanBytes(bytes).c_str(),
                  source.c_str());
    out += line;
  };
  std::snprintf(line, sizeof line, "  %-12s %14s  %12s  %s\n", "term", "bytes", "", "source");
  out += line;
  row("weights", e.weights_bytes, e.weights_source);
  row("activations", e.activation_bytes, e.activation_source);
  row("kv cache", e.kv_cache_bytes, e.kv_cache_bytes ? "keys and values of every layer" : "-");
  if (e.host) {
    row("workspace", e.workspace_bytes,
        e.workspace_bytes ? "tied LM head while loading, beyond the activation peak"
                          : "none on the CPU (no cuBLAS, cuDNN or caching allocator)");
    row("context", e.context_bytes, "an idle worker process's resident memory");
  } else {
    row("workspace", e.workspace_bytes,
        "cuBLAS " + HumanBytes(e.cublas_workspace_bytes) + " + allocator slack " +
            HumanBytes(e.allocator_slack_bytes) +
            (e.cudnn_workspace_bytes
                 ? " (cuDNN up to " + HumanBytes(e.cudnn_workspace_bytes) + ", inside activations)"
                 : ""));
    row("context", e.context_bytes, "one CUDA context per worker process");
  }
  out += "  ------------------------------------------------\n";
  row("total", e.total_bytes, "");
  if (!e.assumptions.empty()) {
    out += "\nassumptions:\n";
    for (const auto& a : e.assumptions) out += "  - " + a + "\n";
  }
  out += "runtime: " + e.runtime_source + "\n";
  return out;
}

}  // namespace modelgrid
