// HuggingFace config.json -> TransformerConfig.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "formats/transformer_config.h"

namespace modelgrid {

// Parses config.json text. Understands the key spellings of BERT/RoBERTa/DistilBERT
// (dim, n_layers, n_heads, hidden_dim), GPT-2 (n_embd, n_layer, n_head, n_inner,
// n_positions) and Llama-style decoders (hidden_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, intermediate_size, head_dim). Fails with
// kInvalidArgument on malformed JSON, missing or non-positive sizes, heads that do not
// divide the hidden size without an explicit head_dim, or values above sane limits
// (hidden 1M, layers 10k, vocab 10M).
Result<TransformerConfig> ParseHfConfig(std::string_view json_text);

}  // namespace modelgrid
