#include "plan/manifest.h"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/byte_reader.h"
#include "common/byte_size.h"
#include "estimate/estimator.h"
#include "estimate/model_source.h"
#include "estimate/python_model.h"
#include "formats/triton_config.h"
#include "formats/triton_layout.h"

namespace modelgrid {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kMaxBytes = int64_t{64} << 40;
constexpr size_t kMaxManifestBytes = 64 << 20;

struct Footprint {
  uint64_t footprint_bytes = 0;  // without the context
  uint64_t transient_bytes = 0;  // <= footprint_bytes
};

// What of an estimate a shared worker reuses between its models (they run one request at
// a time) and what each model keeps while others run:
//   resident   weights and buffers, and all of allocator_slack_bytes: it holds the
//              rounding and segment tails of the weights' allocations, which stay, mixed
//              with activation fragmentation, which would not; the estimate does not split
//              them, so all of it stays and the worker's peak is never under-estimated;
//   transient  activations (cuDNN workspaces sit inside them), the KV cache (one forward
//              pass's keys and values: requests carry no state between them) and the cuBLAS
//              workspace (one per stream, and the worker's models share its stream).
// So transient = footprint - weights - allocator slack = activations + KV cache + cuBLAS.
Footprint FootprintOf(const Estimate& e) {
  Footprint f;
  f.footprint_bytes = e.total_bytes - e.context_bytes;
  const uint64_t resident = std::min(f.footprint_bytes, e.weights_bytes + e.allocator_slack_bytes);
  f.transient_bytes = f.footprint_bytes - resident;
  return f;
}

// Estimates each distinct (path, batch, seq, dtype) once.
class FootprintCache {
 public:
  explicit FootprintCache(const ManifestOptions& o) : gpu_(o.gpu) {}
  // `triton`: the parsed config.pbtxt of the Triton folder `path`, when the caller has it.
  Result<Footprint> Get(const std::string& path, const EstimateOptions& base,
                        const TritonModelConfig* triton = nullptr) {
    EstimateOptions e = base;
    e.gpu = gpu_;
    const std::string key = path + "|" + std::to_string(e.batch.value_or(0)) + "|" +
                            std::to_string(e.sequence) + "|" +
                            (e.dtype ? std::string(ComputeDTypeName(*e.dtype)) : "");
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    if (triton != nullptr && triton->backend == "python") {
      auto py = EstimatePythonModel(path, ::strcasecmp(gpu_.c_str(), kHostDevice) == 0);
      if (!py.ok()) return py.status();
      const Footprint f{py->total_bytes, py->transient_bytes};
      cache_[key] = f;
      return f;
    }
    auto source = triton ? OpenTritonModelSource(path, *triton) : OpenModelSource(path);
    if (!source.ok()) return source.status();
    auto estimate = EstimateFootprint(*source, e);
    if (!estimate.ok()) return estimate.status();
    const Footprint f = FootprintOf(*estimate);
    cache_[key] = f;
    return f;
  }

 private:
  std::string gpu_;
  std::map<std::string, Footprint> cache_;
};

Status CheckNames(const std::vector<ModelRequest>& models) {
  if (models.empty()) return InvalidArgument("the model list is empty");
  std::set<std::string> names;
  for (const auto& m : models) {
    if (!names.insert(m.name).second) {
      return InvalidArgument("duplicate model name '" + m.name + "'");
    }
  }
  return Status::Ok();
}

Result<Isolation> ParseIsolation(const std::string& text) {
  if (text == "shared") return Isolation::kShared;
  if (text == "process") return Isolation::kProcess;
  return InvalidArgument("isolation '" + text + "' must be \"shared\" or \"process\"");
}

Result<int64_t> IntegerIn(const json& v, const char* key, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) return InvalidArgument(std::string(key) + " must be an integer");
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : v.get<int64_t>();
  if (x < lo || x > hi) {
    return OutOfRange(std::string(key) + " " + std::to_string(x) + " is outside " +
                      std::to_string(lo) + ".." + std::to_string(hi));
  }
  return x;
}

// A size: an integer number of bytes, or a string ParseByteSize reads ("2GiB"), in lo..hi.
Result<int64_t> SizeIn(const json& v, const char* key, int64_t lo, int64_t hi) {
  if (!v.is_string()) return IntegerIn(v, key, lo, hi);
  auto bytes = ParseByteSize(v.get<std::string>());
  if (!bytes.ok()) return bytes.status().WithContext(key);
  return IntegerIn(json(*bytes), key, lo, hi);
}

// `triton`: the parsed config of the entry's Triton folder, when it comes from one.
Result<ModelRequest> ParseEntry(const json& e, const std::string& base_dir, FootprintCache* cache,
                                const TritonModelConfig* triton = nullptr) {
  static const std::set<std::string> kKeys = {
      "name",  "path",      "memory_bytes",      "transient_bytes", "batch",        "seq",
      "dtype", "isolation", "latency_sensitive", "replicas",        "expected_load"};
  if (!e.is_object()) return InvalidArgument("an entry is not an object");
  for (const auto& [key, value] : e.items()) {
    (void)value;
    if (!kKeys.count(key)) {
      return InvalidArgument("unknown key '" + key +
                             "' (known: name, path, memory_bytes, transient_bytes, batch, seq, "
                             "dtype, isolation, latency_sensitive, replicas, expected_load)");
    }
  }
  ModelRequest m;
  std::string path;
  if (e.contains("path")) {
    if (!e["path"].is_string()) return InvalidArgument("path must be a string");
    path = e["path"].get<std::string>();
    if (!path.empty() && fs::path(path).is_relative()) path = (fs::path(base_dir) / path).string();
  }
  if (e.contains("name")) {
    if (!e["name"].is_string()) return InvalidArgument("name must be a string");
    m.name = e["name"].get<std::string>();
  } else if (!path.empty()) {
    m.name = fs::path(path).stem().string();
  }
  if (m.name.empty()) return InvalidArgument("an entry has neither a name nor a path");
  if (m.name.size() > 256) return InvalidArgument("name longer than 256 characters");
  auto context = [&](const Status& s) { return s.WithContext("model '" + m.name + "'"); };
  if (e.contains("isolation")) {
    if (!e["isolation"].is_string()) return context(InvalidArgument("isolation must be a string"));
    auto iso = ParseIsolation(e["isolation"].get<std::string>());
    if (!iso.ok()) return context(iso.status());
    m.isolation = *iso;
  }
  if (e.contains("latency_sensitive")) {
    if (!e["latency_sensitive"].is_boolean()) {
      return context(InvalidArgument("latency_sensitive must be true or false"));
    }
    m.latency_sensitive = e["latency_sensitive"].get<bool>();
  }
  if (e.contains("replicas")) {
    auto r = IntegerIn(e["replicas"], "replicas", 1, 4096);
    if (!r.ok()) return context(r.status());
    m.replicas = static_cast<int>(*r);
  }
  if (e.contains("expected_load")) {
    const json& v = e["expected_load"];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
        v.get<double>() > 1e12) {
      return context(InvalidArgument("expected_load must be a number in 0..1e12"));
    }
    m.expected_load = v.get<double>();
  }
  EstimateOptions eo;
  if (e.contains("batch")) {
    auto b = IntegerIn(e["batch"], "batch", 1, 65536);
    if (!b.ok()) return context(b.status());
    eo.batch = *b;
  }
  if (e.contains("seq")) {
    auto s = IntegerIn(e["seq"], "seq", 1, 1 << 20);
    if (!s.ok()) return context(s.status());
    eo.sequence = *s;
  }
  if (e.contains("dtype")) {
    if (!e["dtype"].is_string()) return context(InvalidArgument("dtype must be a string"));
    auto d = ParseComputeDType(e["dtype"].get<std::string>());
    if (!d.ok()) return context(d.status());
    eo.dtype = *d;
  }
  if (e.contains("memory_bytes")) {
    auto bytes = SizeIn(e["memory_bytes"], "memory_bytes", 1, kMaxBytes);
    if (!bytes.ok()) return context(bytes.status());
    m.footprint_bytes = static_cast<uint64_t>(*bytes);
    // A given footprint is all resident unless the entry says how much of it is transient.
    if (e.contains("transient_bytes")) {
      auto t = SizeIn(e["transient_bytes"], "transient_bytes", 0, *bytes);
      if (!t.ok()) return context(t.status());
      m.transient_bytes = static_cast<uint64_t>(*t);
    }
  } else if (e.contains("transient_bytes")) {
    return context(InvalidArgument(
        "transient_bytes needs memory_bytes (an estimated footprint brings its own)"));
  } else if (path.empty()) {
    return context(InvalidArgument("needs a path to estimate from, or memory_bytes"));
  } else {
    auto f = cache->Get(path, eo, triton);
    if (!f.ok()) return context(f.status());
    m.footprint_bytes = f->footprint_bytes;
    m.transient_bytes = f->transient_bytes;
  }
  return m;
}

}  // namespace

Result<std::vector<ModelRequest>> ParseManifest(std::string_view json_text,
                                                const std::string& base_dir,
                                                const ManifestOptions& options) {
  json doc = json::parse(std::string(json_text), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("manifest is not valid JSON");
  if (!doc.is_object()) return InvalidArgument("manifest must be an object {\"models\": [...]}");
  for (const auto& [key, value] : doc.items()) {
    (void)value;
    if (key != "models") return InvalidArgument("manifest: unknown top-level key '" + key + "'");
  }
  if (!doc.contains("models") || !doc["models"].is_array()) {
    return InvalidArgument("manifest needs \"models\": [...]");
  }
  FootprintCache cache(options);
  std::vector<ModelRequest> models;
  const json& list = doc["models"];
  for (size_t i = 0; i < list.size(); ++i) {
    auto m = ParseEntry(list[i], base_dir, &cache);
    if (!m.ok()) return m.status().WithContext("manifest models[" + std::to_string(i) + "]");
    models.push_back(std::move(m).value());
  }
  MG_RETURN_IF_ERROR(CheckNames(models));
  return models;
}

namespace {

// One model folder as a ModelRequest, from its parsed config; `cache` shares estimates
// between folders.
Result<ModelRequest> TritonFolderRequest(const fs::path& folder, const TritonModelConfig& config,
                                         FootprintCache* cache) {
  const std::string config_path = (folder / "config.pbtxt").string();
  // The same keys as a manifest entry, as strings; parsed by the manifest rules.
  json entry = json::object();
  entry["name"] = config.name.empty() ? folder.filename().string() : config.name;
  for (const auto& [key, value] : config.parameters) {
    if (key == "isolation") entry[key] = value;
    if (key == "latency_sensitive") entry[key] = (value == "true" || value == "1");
    if (key == "memory_bytes" || key == "transient_bytes") {
      entry[key] = value;  // a size, read by the manifest rules
    }
    if (key == "replicas") {
      if (value.empty() || value.size() > 18 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        return InvalidArgument(config_path + ": parameter " + key + " '" + value +
                               "' is not a positive integer");
      }
      entry[key] = std::stoll(value);
    }
    if (key == "expected_load") {
      char* end = nullptr;
      const double load = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') {
        return InvalidArgument(config_path + ": expected_load '" + value + "' is not a number");
      }
      entry[key] = load;
    }
  }
  // The estimator reads the model file (batch = max_batch_size), not the config again.
  entry["path"] = folder.string();
  auto m = ParseEntry(entry, "", cache, &config);
  if (!m.ok()) return m.status().WithContext(config_path);
  return m;
}

// One model folder: reads its config.pbtxt (regular files only, never blocking) once.
Result<ModelRequest> LoadTritonFolder(const fs::path& folder, FootprintCache* cache) {
  const std::string config_path = (folder / "config.pbtxt").string();
  std::error_code ec;
  if (!fs::exists(config_path, ec) && IsPythonModelFolder(folder.string())) {
    TritonModelConfig python;  // its inputs come from auto_complete_config when served
    python.backend = "python";
    return TritonFolderRequest(folder, python, cache);
  }
  auto text = ReadSmallFile(config_path, kMaxTritonConfigBytes);
  if (!text.ok()) return text.status();
  auto config = ParseTritonConfig(*text);
  if (!config.ok()) return config.status().WithContext(config_path);
  return TritonFolderRequest(folder, *config, cache);
}

}  // namespace

Result<std::vector<ModelRequest>> LoadTritonRepository(const std::string& dir,
                                                       const ManifestOptions& options) {
  std::error_code ec;
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory() &&
        (fs::exists(entry.path() / "config.pbtxt") || IsPythonModelFolder(entry.path().string()))) {
      folders.push_back(entry.path());
    }
  }
  if (ec) return NotFound("cannot list model repository " + dir + ": " + ec.message());
  std::sort(folders.begin(), folders.end());
  FootprintCache cache(options);
  std::vector<ModelRequest> models;
  for (const auto& folder : folders) {
    MG_ASSIGN_OR_RETURN(ModelRequest m, LoadTritonFolder(folder, &cache));
    models.push_back(std::move(m));
  }
  if (folders.empty()) {
    return InvalidArgument("model repository " + dir + " has no <model>/config.pbtxt");
  }
  MG_RETURN_IF_ERROR(CheckNames(models));
  return models;
}

Result<ModelRequest> LoadTritonModel(const std::string& model_dir, const ManifestOptions& options) {
  FootprintCache cache(options);
  return LoadTritonFolder(fs::path(model_dir), &cache);
}

Result<ModelRequest> ModelRequestFromTriton(const std::string& model_dir,
                                            const TritonModelConfig& config,
                                            const ManifestOptions& options) {
  FootprintCache cache(options);
  return TritonFolderRequest(fs::path(model_dir), config, &cache);
}

Result<std::vector<ModelRequest>> LoadModels(const std::string& path,
                                             const ManifestOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(path + " does not exist");
  if (fs::is_directory(path, ec)) return LoadTritonRepository(path, options);
  if (fs::file_size(path, ec) > kMaxManifestBytes) {
    return InvalidArgument(path + " is larger than 64 MiB; not a manifest");
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto models = ParseManifest(text.str(), fs::path(path).parent_path().string(), options);
  if (!models.ok()) return models.status().WithContext(path);
  return models;
}

}  // namespace modelgrid
