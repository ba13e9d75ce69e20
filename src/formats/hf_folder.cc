// ReadHfModelFolder (declared in safetensors.h).
#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "formats/torch_archive.h"

namespace modelgrid {

namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMaxConfigBytes = 16ull << 20;

// The weight files of one kind a folder may hold: an index, a single file, and whether
// any file with the extension counts when neither is there.
struct WeightLayout {
  const char* format;
  const char* index;
  const char* single;
  const char* any_extension;  // nullptr: only the named files
};

// Safetensors first: a folder with both is read from them. pytorch_model.bin only by name:
// other .bin files of a folder (training_args.bin, optimizer states) are not weights.
constexpr WeightLayout kLayouts[] = {
    {"safetensors", "model.safetensors.index.json", "model.safetensors", ".safetensors"},
    {"pytorch", "pytorch_model.bin.index.json", "pytorch_model.bin", nullptr},
};

// A shard name from the index must be a plain file name inside the folder.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

Result<std::vector<std::string>> ShardsFromIndex(const std::string& index_path,
                                                 std::map<std::string, std::string>* weight_map) {
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

// The shards of `layout` in `dir` (empty when it has none), filling `weight_map` from its
// index when there is one.
Result<std::vector<std::string>> FindShards(const std::string& dir, const WeightLayout& layout,
                                            std::map<std::string, std::string>* weight_map) {
  std::error_code ec;
  const std::string index_path = dir + "/" + layout.index;
  if (fs::exists(index_path, ec)) return ShardsFromIndex(index_path, weight_map);
  if (fs::exists(dir + "/" + layout.single, ec)) return std::vector<std::string>{layout.single};
  std::vector<std::string> shards;
  if (layout.any_extension == nullptr) return shards;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == layout.any_extension) {
      shards.push_back(entry.path().filename().string());
    }
  }
  std::sort(shards.begin(), shards.end());
  return shards;
}

struct Shard {
  std::vector<TensorInfo> tensors;  // a tied tensor once
  std::set<std::string> names;      // every name the file holds, tied ones included
};

// The tensors of one weight file, headers only; errors name the file.
Result<Shard> ReadShard(const std::string& path, const std::string& format) {
  Shard shard;
  if (format == "safetensors") {
    MG_ASSIGN_OR_RETURN(SafetensorsFile file, ParseSafetensorsFile(path));
    shard.tensors = std::move(file.tensors);
  } else {
    MG_ASSIGN_OR_RETURN(auto reader, FileByteReader::Open(path));
    auto archive = ParseTorchArchive(*reader);
    if (!archive.ok()) return archive.status().WithContext(path);
    if (archive->is_torchscript) {
      return InvalidArgument(path + " is a TorchScript module, not a state_dict checkpoint");
    }
    for (const auto& t : archive->tensors) shard.names.insert(t.name);
    shard.tensors = UntiedTensors(*archive);
  }
  for (const auto& t : shard.tensors) shard.names.insert(t.name);
  return shard;
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
    const nlohmann::json tie = raw.value("tie_word_embeddings", nlohmann::json(true));
    if (!tie.is_boolean()) {
      return InvalidArgument(config_path + ": tie_word_embeddings must be true or false");
    }
    folder.tie_word_embeddings = tie.get<bool>();
  }
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shard_names;
  for (const WeightLayout& layout : kLayouts) {
    MG_ASSIGN_OR_RETURN(shard_names, FindShards(dir, layout, &weight_map));
    if (!shard_names.empty()) {
      folder.weights_format = layout.format;
      break;
    }
  }
  if (shard_names.empty()) {
    return NotFound(dir +
                    " holds no weights: no .safetensors file, no pytorch_model.bin and no "
                    "index of either");
  }
  std::set<std::string> seen;
  for (const auto& shard_name : shard_names) {
    const std::string path = dir + "/" + shard_name;
    MG_ASSIGN_OR_RETURN(Shard shard, ReadShard(path, folder.weights_format));
    for (auto& t : shard.tensors) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(t.name);
        if (it == weight_map.end() || it->second != shard_name) continue;  // index decides
      }
      if (!seen.insert(t.name).second) {
        return CorruptData("tensor '" + t.name + "' appears in more than one shard");
      }
      folder.tensors.push_back(std::move(t));
    }
    for (const auto& [name, owner] : weight_map) {
      if (owner == shard_name && !shard.names.count(name)) {
        return CorruptData("index names tensor '" + name + "' but shard " + owner + " lacks it");
      }
    }
    folder.shard_paths.push_back(path);
  }
  return folder;
}

}  // namespace modelgrid
