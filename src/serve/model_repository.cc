#include "serve/model_repository.h"

#include <algorithm>
#include <filesystem>

#include "common/byte_reader.h"
#include "formats/triton_layout.h"
#include "serve/auto_complete.h"

namespace modelgrid {

namespace {
namespace fs = std::filesystem;
}  // namespace

const char* ModelFileName(const TritonModelConfig& config) {
  return config.backend == "python" ? "model.py" : "model.pt";
}

bool IsValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

Result<ServedModel> ReadServedModel(const std::string& repo, const std::string& name,
                                    const ConfigOverride* override, bool auto_complete) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  const fs::path dir = fs::path(repo) / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound("model " + name + " is not in " + repo);
  Result<TritonModelConfig> config = override ? Result<TritonModelConfig>(override->config)
                                              : Result<TritonModelConfig>(TritonModelConfig{});
  if (!override && !fs::exists(dir / "config.pbtxt", ec) && IsPythonModelFolder(dir.string())) {
    config->backend = "python";  // auto_complete_config fills in the rest, below
  } else if (!override) {
    auto text = ReadSmallFile((dir / "config.pbtxt").string(), kMaxTritonConfigBytes);
    if (!text.ok()) return text.status().WithContext("model " + name);
    config = ParseTritonConfig(*text);
    if (!config.ok()) return config.status().WithContext((dir / "config.pbtxt").string());
  }
  ServedModel m;
  m.name = name;
  m.config = std::move(config).value();
  if (!m.config.name.empty() && m.config.name != name) {
    return InvalidArgument("model " + name + ": config name '" + m.config.name +
                           "' differs from its folder name");
  }
  const bool torch = m.config.platform == "pytorch_libtorch" || m.config.backend == "pytorch" ||
                     (m.config.platform.empty() && m.config.backend.empty());
  const bool python = m.config.backend == "python" && m.config.platform.empty();
  if (!torch && !python) {
    return InvalidArgument("model " + name + ": platform '" + m.config.platform + "' backend '" +
                           m.config.backend +
                           "' is not served (ModelGrid serves pytorch_libtorch TorchScript and "
                           "backend \"python\" models)");
  }
  if (m.config.decoupled && !python) {
    return InvalidArgument("model " + name +
                           ": a decoupled TorchScript model (model_transaction_policy { "
                           "decoupled: true }) is not served: only Python models answer a "
                           "request several times");
  }
  if (m.config.decoupled && m.config.dynamic_batching) {
    return InvalidArgument("model " + name +
                           ": dynamic_batching of a decoupled model is not supported by "
                           "ModelGrid (each request of a decoupled model executes alone)");
  }
  for (const auto& field : m.config.ignored_fields) {
    m.warnings.push_back("model " + name + ": config field '" + field + "' is ignored");
  }
  const int64_t best = LatestModelVersion(dir.string());
  if (best < 0) return InvalidArgument("model " + name + " has no numeric version folder");
  m.version = best;
  m.model_path = (dir / std::to_string(best) / ModelFileName(m.config)).string();
  if (!fs::is_regular_file(m.model_path, ec)) {
    return InvalidArgument("model " + name + ": " + m.model_path + " is missing");
  }
  if (auto_complete && python && m.config.inputs.empty() && m.config.outputs.empty()) {
    // Triton's auto-complete: the model's own hook declares its inputs and outputs.
    auto completed = AutoCompleteConfig(m.model_path, m.config);
    if (!completed.ok()) return completed.status().WithContext("model " + name);
    if (completed->backend != "python" || !completed->platform.empty() ||
        (!completed->name.empty() && completed->name != name)) {
      return InvalidArgument("model " + name +
                             ": auto_complete_config changed the model's name or backend");
    }
    m.config = std::move(completed).value();
    m.auto_completed = true;
  }
  return m;
}

Result<std::vector<std::string>> ListRepositoryModels(const std::string& repo) {
  std::error_code ec;
  if (!fs::is_directory(repo, ec)) return NotFound("model repository " + repo + " is not a folder");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(repo, ec)) {
    const std::string name = entry.path().filename().string();
    std::error_code e2;
    if (IsValidModelName(name) && entry.is_directory(e2) &&
        (fs::exists(entry.path() / "config.pbtxt", e2) ||
         IsPythonModelFolder(entry.path().string()))) {
      names.push_back(name);
    }
  }
  if (ec) return NotFound("cannot list model repository " + repo + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::string RepositorySignature(const std::string& repo, const ServedModel& served) {
  std::string out = std::to_string(served.version);
  for (const fs::path& p :
       {fs::path(repo) / served.name / "config.pbtxt", fs::path(served.model_path)}) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto time = fs::last_write_time(p, ec);
    out += ec ? "|-"
              : "|" + std::to_string(size) + "@" + std::to_string(time.time_since_epoch().count());
  }
  return out;
}

}  // namespace modelgrid
