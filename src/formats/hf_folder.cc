// ReadHfModelFolder (declared in safetensors.h).
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace modelgrid {

namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMaxConfigBytes = 16ull << 20;

// A shard name from the index must be a plain file name inside the folder.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

Result<std::vector<std::string>> ShardsFromIndex(const std::string& dir,
                                                 std::map<std::string, std::string>* weight_map) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  MG_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index_path, kMaxConfigBytes));
  nlohmann::json index = nlohmann::json::parse(text, nullptr, false);
  if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
      !index["weight_map"].is_object()) {
    return InvalidArgument(index_path + " has no weight_map object");
  }
  std::set<std::string> shards;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it->is_string() || !IsPlainFileName(it->get<std::string>())) {
      return InvalidArgument(index_path + ": tensor '" + it.key() +
                             "' names a shard outside the folder");
    }
    (*weight_map)[it.key()] = it->get<std::string>();
    shards.insert(it->get<std::string>());
  }
  if (shards.empty()) return InvalidArgument(index_path + " lists no tensors");
  return std::vector<std::string>(shards.begin(), shards.end());
}

}  // namespace

Result<HfModelFolder> ReadHfModelFolder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound(dir + " is not a directory");
  HfModelFolder folder;
  const std::string config_path = dir + "/config.json";
  if (fs::exists(config_path, ec)) {
    folder.config_path = config_path;
    MG_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(config_path, kMaxConfigBytes));
    auto config = ParseHfConfig(text);
    if (!config.ok()) return config.status().WithContext(config_path);
    folder.config = std::move(config).value();
    nlohmann::json raw = nlohmann::json::parse(text, nullptr, false);
    // tie_word_embeddings defaults to true in transformers' PretrainedConfig.
    folder.tie_word_embeddings = raw.value("tie_word_embeddings", true);
  }
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shard_names;
  if (fs::exists(dir + "/model.safetensors.index.json", ec)) {
    MG_ASSIGN_OR_RETURN(shard_names, ShardsFromIndex(dir, &weight_map));
  } else if (fs::exists(dir + "/model.safetensors", ec)) {
    shard_names.push_back("model.safetensors");
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".safetensors") {
        shard_names.push_back(entry.path().filename().string());
      }
    }
    std::sort(shard_names.begin(), shard_names.end());
  }
  if (shard_names.empty()) return NotFound(dir + " holds no .safetensors file");
  std::set<std::string> seen;
  for (const auto& shard : shard_names) {
    const std::string path = dir + "/" + shard;
    MG_ASSIGN_OR_RETURN(SafetensorsFile file, ParseSafetensorsFile(path));
    for (auto& t : file.tensors) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(t.name);
        if (it == weight_map.end() || it->second != shard) continue;  // index decides
      }
      if (!seen.insert(t.name).second) {
        return CorruptData("tensor '" + t.name + "' appears in more than one shard");
      }
      folder.tensors.push_back(std::move(t));
    }
    folder.shard_paths.push_back(path);
  }
  for (const auto& [name, shard] : weight_map) {
    if (!seen.count(name)) {
      return CorruptData("index names tensor '" + name + "' but shard " + shard + " lacks it");
    }
  }
  return folder;
}

}  // namespace modelgrid
