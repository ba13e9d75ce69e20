// Closed-form activation trace of one transformer forward pass (prefill of `sequence`
// tokens), modelled on how HuggingFace implementations allocate tensors with fused
// (SDPA) attention: embeddings, per-layer attention and MLP temporaries, the KV cache
// (decoders keep every layer's keys and values), and the logits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "estimate/allocation_trace.h"
#include "formats/transformer_config.h"

namespace modelgrid {

struct TransformerTraceOptions {
  int64_t batch = 1;
  int64_t sequence = 128;
  uint32_t activation_bytes = 4;  // element size of hidden states, KV cache and logits
};

struct TransformerTraceResult {
  AllocationTrace trace;
  uint64_t kv_cache_bytes = 0;  // 2 x layers x batch x sequence x kv_heads x head_dim x dtype
  uint64_t logits_bytes = 0;    // batch x sequence x vocab x dtype (0 without an LM head)
  std::vector<std::string> assumptions;
};

// Builds the trace. `config` must have positive sizes (ParseHfConfig guarantees it).
TransformerTraceResult BuildTransformerTrace(const TransformerConfig& config,
                                             const TransformerTraceOptions& options);

}  // namespace modelgrid
