// safetensors files and HuggingFace model folders, read from headers only.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the data section. A HuggingFace folder holds config.json and one file
// (model.safetensors) or shards listed in model.safetensors.index.json.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/byte_reader.h"
#include "formats/tensor_info.h"
#include "formats/transformer_config.h"

namespace modelgrid {

struct SafetensorsFile {
  std::vector<TensorInfo> tensors;
  uint64_t header_bytes = 0;  // N
  uint64_t data_bytes = 0;    // size of the data section
};

// Parses one safetensors image. Fails with kCorruptData when the header length exceeds
// the input or 100 MiB, the JSON is malformed, a tensor's offsets fall outside the data
// section or disagree with dtype x shape, or two tensors overlap; kUnsupported for an
// unknown dtype string.
Result<SafetensorsFile> ParseSafetensors(const ByteReader& reader);
Result<SafetensorsFile> ParseSafetensorsFile(const std::string& path);

struct HfModelFolder {
  std::string config_path;               // empty when there is no config.json
  std::optional<TransformerConfig> config;
  std::vector<std::string> shard_paths;  // safetensors files read
  std::vector<TensorInfo> tensors;       // all shards
  bool tie_word_embeddings = false;
};

// Reads a HuggingFace folder: config.json (optional, but required for activations) and
// the safetensors shards, following model.safetensors.index.json when present (every
// tensor the index names must be found in the shard it names; shard names may not leave
// the folder).
Result<HfModelFolder> ReadHfModelFolder(const std::string& dir);

}  // namespace modelgrid
