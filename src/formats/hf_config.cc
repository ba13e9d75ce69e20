#include "formats/hf_config.h"

#include <algorithm>
#include <initializer_list>
#include <nlohmann/json.hpp>

namespace modelgrid {

namespace {

using nlohmann::json;

// The first of `keys` that holds a positive integer, or 0.
int64_t FirstInt(const json& config, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = config.find(key);
    if (it != config.end() && it->is_number_integer() && it->get<int64_t>() > 0) {
      return it->get<int64_t>();
    }
  }
  return 0;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool IsEncoderType(const std::string& model_type) {
  static const char* kEncoders[] = {"bert",      "distilbert", "roberta",    "xlm-roberta",
                                    "electra",   "deberta",    "deberta-v2", "albert",
                                    "camembert", "mpnet",      "modernbert", "nomic_bert"};
  return std::find(std::begin(kEncoders), std::end(kEncoders), model_type) != std::end(kEncoders);
}

bool IsGatedType(const std::string& model_type) {
  static const char* kGated[] = {"llama",     "mistral", "mixtral",   "qwen2",       "qwen3",
                                 "qwen2_moe", "gemma",   "gemma2",    "gemma3_text", "phi3",
                                 "olmo",      "olmo2",   "internlm2", "deepseek_v2", "deepseek_v3",
                                 "granite",   "cohere",  "stablelm",  "yi",          "baichuan",
                                 "smollm3",   "exaone"};
  return std::find(std::begin(kGated), std::end(kGated), model_type) != std::end(kGated);
}

}  // namespace

Result<TransformerConfig> ParseHfConfig(std::string_view json_text) {
  json config = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return InvalidArgument("config.json is not a JSON object");
  }
  // Multimodal wrappers keep the language model under text_config.
  if (auto tc = config.find("text_config");
      tc != config.end() && tc->is_object() && FirstInt(config, {"hidden_size", "n_embd"}) == 0) {
    json merged = *tc;
    if (config.contains("architectures")) merged["architectures"] = config["architectures"];
    config = std::move(merged);
  }
  TransformerConfig c;
  if (auto it = config.find("model_type"); it != config.end() && it->is_string()) {
    c.model_type = it->get<std::string>();
  }
  if (auto it = config.find("architectures");
      it != config.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    c.architecture = (*it)[0].get<std::string>();
  }
  if (c.model_type.empty() && c.architecture.empty()) {
    return InvalidArgument("config.json has neither model_type nor architectures");
  }
  c.hidden_size = FirstInt(config, {"hidden_size", "n_embd", "dim", "d_model"});
  c.num_layers = FirstInt(config, {"num_hidden_layers", "n_layer", "n_layers", "num_layers"});
  c.num_heads = FirstInt(config, {"num_attention_heads", "n_head", "n_heads"});
  c.num_kv_heads = FirstInt(config, {"num_key_value_heads", "n_kv_heads", "multi_query_group_num"});
  if (c.num_kv_heads == 0) c.num_kv_heads = c.num_heads;
  c.vocab_size = FirstInt(config, {"vocab_size", "padded_vocab_size"});
  c.max_positions = FirstInt(config, {"max_position_embeddings", "n_positions", "n_ctx",
                                      "max_sequence_length", "seq_length"});
  c.intermediate_size = FirstInt(config, {"intermediate_size", "n_inner", "hidden_dim", "ffn_dim"});
  if (c.hidden_size <= 0 || c.num_layers <= 0 || c.num_heads <= 0) {
    return InvalidArgument("config.json lacks a positive hidden size, layer count or head count");
  }
  if (c.intermediate_size == 0) c.intermediate_size = 4 * c.hidden_size;  // GPT-2 default
  c.head_dim = FirstInt(config, {"head_dim", "attention_head_dim"});
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_heads != 0) {
      return InvalidArgument("hidden size " + std::to_string(c.hidden_size) +
                             " is not divisible by " + std::to_string(c.num_heads) + " heads");
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.hidden_size > (1 << 20) || c.num_layers > 10000 || c.vocab_size > 10'000'000 ||
      c.intermediate_size > (1 << 22) || c.num_heads > 65536 || c.head_dim > 65536 ||
      c.num_kv_heads > c.num_heads) {
    return InvalidArgument(
        "config.json has implausible sizes (hidden " + std::to_string(c.hidden_size) + ", layers " +
        std::to_string(c.num_layers) + ", vocab " + std::to_string(c.vocab_size) + ", kv heads " +
        std::to_string(c.num_kv_heads) + ")");
  }
  const std::string& arch = c.architecture;
  c.kind = IsEncoderType(c.model_type) ? TransformerKind::kEncoder : TransformerKind::kDecoder;
  if (Contains(arch, "ForCausalLM") || Contains(arch, "LMHeadModel")) {
    c.kind = TransformerKind::kDecoder;
  }
  c.has_lm_head = Contains(arch, "LMHead") || Contains(arch, "ForCausalLM") ||
                  Contains(arch, "ForMaskedLM") || Contains(arch, "ForConditionalGeneration") ||
                  (arch.empty() && c.kind == TransformerKind::kDecoder);
  c.gated_mlp = IsGatedType(c.model_type);
  if (auto it = config.find("hidden_act"); it != config.end() && it->is_string()) {
    const std::string act = it->get<std::string>();
    if (act == "swiglu" || act == "geglu") c.gated_mlp = true;
  }
  return c;
}

}  // namespace modelgrid
