// Writes small HuggingFace-style folders (config.json + a sparse safetensors file) for
// tests and benchmarks. Only headers are real; the data section is a hole in the file.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace modelgrid::testing {

struct FakeTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Writes `path` as a safetensors file of `dtype` ("F32", "F16", "BF16") tensors whose data
// section is sparse. Returns the file size.
inline uint64_t WriteSparseSafetensors(const std::string& path,
                                       const std::vector<FakeTensor>& tensors,
                                       const std::string& dtype = "F32") {
  const uint64_t elem = dtype == "F32" ? 4 : 2;
  std::string header = "{";
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t n = elem;
    std::string shape;
    for (size_t d = 0; d < tensors[i].shape.size(); ++d) {
      n *= static_cast<uint64_t>(tensors[i].shape[d]);
      shape += (d ? "," : "") + std::to_string(tensors[i].shape[d]);
    }
    header += (i ? "," : "") + std::string("\"") + tensors[i].name + "\":{\"dtype\":\"" + dtype +
              "\",\"shape\":[" + shape + "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + n) + "]}";
    offset += n;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const uint64_t len = header.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << header;
  }
  const uint64_t size = 8 + header.size() + offset;
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return 0;
  return size;
}

// Tensors of a Llama-style decoder with grouped-query attention.
inline std::vector<FakeTensor> LlamaTensors(int64_t layers, int64_t hidden, int64_t heads,
                                            int64_t kv_heads, int64_t inter, int64_t vocab,
                                            int64_t first_layer = 0) {
  const int64_t hd = hidden / heads;
  std::vector<FakeTensor> t;
  if (first_layer == 0) t.push_back({"model.embed_tokens.weight", {vocab, hidden}});
  for (int64_t l = first_layer; l < first_layer + layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {hidden}});
    t.push_back({p + "self_attn.q_proj.weight", {heads * hd, hidden}});
    t.push_back({p + "self_attn.k_proj.weight", {kv_heads * hd, hidden}});
    t.push_back({p + "self_attn.v_proj.weight", {kv_heads * hd, hidden}});
    t.push_back({p + "self_attn.o_proj.weight", {hidden, heads * hd}});
    t.push_back({p + "post_attention_layernorm.weight", {hidden}});
    t.push_back({p + "mlp.gate_proj.weight", {inter, hidden}});
    t.push_back({p + "mlp.up_proj.weight", {inter, hidden}});
    t.push_back({p + "mlp.down_proj.weight", {hidden, inter}});
  }
  return t;
}

inline std::string LlamaConfigJson(int64_t layers, int64_t hidden, int64_t heads, int64_t kv_heads,
                                   int64_t inter, int64_t vocab) {
  return "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":" +
         std::to_string(hidden) + ",\"num_hidden_layers\":" + std::to_string(layers) +
         ",\"num_attention_heads\":" + std::to_string(heads) +
         ",\"num_key_value_heads\":" + std::to_string(kv_heads) +
         ",\"intermediate_size\":" + std::to_string(inter) +
         ",\"vocab_size\":" + std::to_string(vocab) +
         ",\"max_position_embeddings\":8192,\"tie_word_embeddings\":false}";
}

// Writes a sharded Llama folder: config.json, `shards` safetensors files and the index.
inline void WriteShardedLlama(const std::string& dir, int64_t layers, int64_t hidden, int64_t heads,
                              int64_t kv_heads, int64_t inter, int64_t vocab, int shards,
                              const std::string& dtype = "BF16") {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json")
      << LlamaConfigJson(layers, hidden, heads, kv_heads, inter, vocab);
  std::string index = "{\"metadata\":{},\"weight_map\":{";
  bool first = true;
  const int64_t per_shard = (layers + shards - 1) / shards;
  for (int s = 0; s < shards; ++s) {
    const int64_t begin = s * per_shard;
    const int64_t count = std::min(per_shard, layers - begin);
    if (count <= 0) break;
    auto tensors = LlamaTensors(count, hidden, heads, kv_heads, inter, vocab, begin);
    if (s == shards - 1) {
      tensors.push_back({"model.norm.weight", {hidden}});
      tensors.push_back({"lm_head.weight", {vocab, hidden}});
    }
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    WriteSparseSafetensors(dir + "/" + name, tensors, dtype);
    for (const auto& t : tensors) {
      index += std::string(first ? "" : ",") + "\"" + t.name + "\":\"" + name + "\"";
      first = false;
    }
  }
  index += "}}";
  std::ofstream(dir + "/model.safetensors.index.json") << index;
}

}  // namespace modelgrid::testing
