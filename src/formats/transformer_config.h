// Architecture hyper-parameters of a transformer, from a HuggingFace config.json or from
// GGUF metadata. The estimator's closed form works from these alone.
#pragma once

#include <cstdint>
#include <string>

namespace modelgrid {

enum class TransformerKind : uint8_t {
  kEncoder,  // BERT-like: bidirectional, no KV cache, no LM head by default
  kDecoder,  // GPT-2 / Llama / Mistral / Qwen: causal, KV cache, LM head producing logits
};

struct TransformerConfig {
  std::string architecture;     // "BertModel", "GPT2LMHeadModel", "llama", ...
  std::string model_type;       // config.json "model_type" or GGUF general.architecture
  TransformerKind kind = TransformerKind::kDecoder;
  int64_t hidden_size = 0;      // d_model
  int64_t num_layers = 0;
  int64_t num_heads = 0;        // query heads
  int64_t num_kv_heads = 0;     // key/value heads (== num_heads without GQA)
  int64_t head_dim = 0;         // usually hidden_size / num_heads
  int64_t intermediate_size = 0;  // MLP width
  int64_t vocab_size = 0;
  int64_t max_positions = 0;    // longest supported sequence (0 when unknown)
  bool gated_mlp = false;       // SwiGLU-style MLP (gate and up projections)
  bool has_lm_head = true;      // produces vocabulary logits
  bool fused_attention = true;  // attention scores are never materialised (SDPA/flash)
};

}  // namespace modelgrid
