// safetensors files and HuggingFace model folders, read from headers only.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the data section. A HuggingFace folder holds config.json and one file
// (model.safetensors) or shards listed in model.safetensors.index.json; older checkpoints
// hold pytorch_model.bin, or shards listed in pytorch_model.bin.index.json, instead
// (torch.save zip archives of a state_dict, read by formats/torch_archive.h).
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
  std::string config_path;  // empty when there is no config.json
  std::optional<TransformerConfig> config;
  std::string weights_format;            // "safetensors" or "pytorch" (pytorch_model*.bin)
  std::vector<std::string> shard_paths;  // weight files read
  // All shards. From .bin files, a tensor saved under two names (tied weights) is listed
  // once, under its first name, as in safetensors files.
  std::vector<TensorInfo> tensors;
  bool tie_word_embeddings = false;
};

// Reads a HuggingFace folder: config.json (optional, but required for activations) and
// the weight shards: safetensors when the folder has any (model.safetensors.index.json,
// model.safetensors, or every *.safetensors), else pytorch_model.bin.index.json or
// pytorch_model.bin. With an index, every tensor it names must be found in the shard it
// names, and shard names may not leave the folder. Reads headers only: a .bin shard's zip
// directory and pickled state_dict, never its tensor data. kNotFound when the folder
// holds neither kind of weights.
Result<HfModelFolder> ReadHfModelFolder(const std::string& dir);

}  // namespace modelgrid
