#include "estimate/transformer_activations.h"

namespace modelgrid {

namespace {

// Emits one layer's allocations. The layer input stays alive for the whole layer (HF's
// layer loops hold it) and is freed by the caller; each layer returns its output's id.
class LayerEmitter {
 public:
  LayerEmitter(const TransformerConfig& c, const TransformerTraceOptions& o, AllocationTrace* t)
      : c_(c), trace_(*t) {
    tokens_ = static_cast<uint64_t>(o.batch) * static_cast<uint64_t>(o.sequence);
    elem_ = o.activation_bytes;
    batch_ = static_cast<uint64_t>(o.batch);
    seq_ = static_cast<uint64_t>(o.sequence);
  }

  // Bytes of a [tokens, width] activation.
  uint64_t Rows(int64_t width) const { return tokens_ * static_cast<uint64_t>(width) * elem_; }

  uint32_t Embeddings() {
    const uint32_t ids = trace_.Alloc(tokens_ * 8);     // input_ids, int64
    uint32_t sum = trace_.Alloc(Rows(c_.hidden_size));  // token embeddings
    if (c_.kind == TransformerKind::kEncoder || c_.model_type == "gpt2") {
      const uint32_t pos = trace_.Alloc(Rows(c_.hidden_size));  // learned positions
      const uint32_t added = trace_.Alloc(Rows(c_.hidden_size));
      trace_.Free(sum);
      trace_.Free(pos);
      sum = added;
    }
    if (c_.kind == TransformerKind::kEncoder) {  // embedding LayerNorm
      const uint32_t ln = trace_.Alloc(Rows(c_.hidden_size));
      trace_.Free(sum);
      sum = ln;
    }
    input_ids_ = ids;
    return sum;
  }

  // Attention block. Decoders push their keys and values to kv_ids_ (kept to the end).
  uint32_t Attention() {
    const int64_t q_width = c_.num_heads * c_.head_dim;
    const int64_t kv_width = c_.num_kv_heads * c_.head_dim;
    const uint32_t q = trace_.Alloc(Rows(q_width));
    uint32_t k = trace_.Alloc(Rows(kv_width));
    uint32_t v = trace_.Alloc(Rows(kv_width));
    const bool decoder = c_.kind == TransformerKind::kDecoder;
    uint32_t q_use = q;
    if (decoder && c_.model_type != "gpt2") {  // rotary embeddings make new q and k
      q_use = trace_.Alloc(Rows(q_width));
      const uint32_t tmp = trace_.Alloc(Rows(q_width));
      const uint32_t k_rot = trace_.Alloc(Rows(kv_width));
      trace_.Free(tmp);
      trace_.Free(q);
      trace_.Free(k);
      k = k_rot;
    }
    std::vector<uint32_t> transient;
    if (decoder) {
      kv_ids_.push_back(k);
      kv_ids_.push_back(v);
      if (c_.num_kv_heads < c_.num_heads) {  // repeat_kv expands keys and values
        transient.push_back(trace_.Alloc(Rows(q_width)));
        transient.push_back(trace_.Alloc(Rows(q_width)));
      }
    }
    if (!c_.fused_attention) {  // eager attention materialises scores and probabilities
      const uint64_t scores = batch_ * static_cast<uint64_t>(c_.num_heads) * seq_ * seq_ * elem_;
      const uint32_t s = trace_.Alloc(scores);
      const uint32_t p = trace_.Alloc(scores);
      trace_.Free(s);
      transient.push_back(p);
    }
    const uint32_t attn = trace_.Alloc(Rows(q_width));  // SDPA output
    for (uint32_t id : transient) trace_.Free(id);
    trace_.Free(q_use);
    if (q_use != q) trace_.Free(q);
    if (!decoder) {
      trace_.Free(k);
      trace_.Free(v);
    }
    const uint32_t merged = trace_.Alloc(Rows(q_width));  // transpose + reshape copy
    trace_.Free(attn);
    const uint32_t out = trace_.Alloc(Rows(c_.hidden_size));  // output projection
    trace_.Free(merged);
    return out;
  }

  // MLP block on the current normalised hidden state; returns the down projection.
  uint32_t Mlp() {
    const int64_t width = c_.intermediate_size;
    uint32_t act;
    if (c_.gated_mlp) {
      const uint32_t gate = trace_.Alloc(Rows(width));
      const uint32_t up = trace_.Alloc(Rows(width));
      const uint32_t gate_act = trace_.Alloc(Rows(width));
      trace_.Free(gate);
      act = trace_.Alloc(Rows(width));  // act(gate) * up
      trace_.Free(gate_act);
      trace_.Free(up);
    } else {
      const uint32_t up = trace_.Alloc(Rows(width));
      act = trace_.Alloc(Rows(width));
      trace_.Free(up);
    }
    const uint32_t down = trace_.Alloc(Rows(c_.hidden_size));
    trace_.Free(act);
    return down;
  }

  // Residual add then LayerNorm (post-LN encoders); frees `branch`.
  uint32_t AddNorm(uint32_t branch) {
    const uint32_t sum = trace_.Alloc(Rows(c_.hidden_size));
    trace_.Free(branch);
    const uint32_t ln = trace_.Alloc(Rows(c_.hidden_size));
    trace_.Free(sum);
    return ln;
  }

  uint32_t EncoderLayer() {
    const uint32_t attn_out = AddNorm(Attention());
    const uint32_t out = AddNorm(Mlp());
    trace_.Free(attn_out);
    return out;
  }

  uint32_t DecoderLayer() {
    const uint32_t ln1 = trace_.Alloc(Rows(c_.hidden_size));
    const uint32_t attn = Attention();
    trace_.Free(ln1);
    const uint32_t h = trace_.Alloc(Rows(c_.hidden_size));  // residual
    trace_.Free(attn);
    const uint32_t ln2 = trace_.Alloc(Rows(c_.hidden_size));
    const uint32_t mlp = Mlp();
    trace_.Free(ln2);
    const uint32_t out = trace_.Alloc(Rows(c_.hidden_size));
    trace_.Free(mlp);
    trace_.Free(h);
    return out;
  }

  uint32_t input_ids() const { return input_ids_; }

 private:
  const TransformerConfig& c_;
  AllocationTrace& trace_;
  uint64_t tokens_ = 0, elem_ = 4, batch_ = 1, seq_ = 1;
  uint32_t input_ids_ = 0;
  std::vector<uint32_t> kv_ids_;
};

}  // namespace

TransformerTraceResult BuildTransformerTrace(const TransformerConfig& c,
                                             const TransformerTraceOptions& o) {
  TransformerTraceResult r;
  AllocationTrace& t = r.trace;
  LayerEmitter emit(c, o, &t);
  const bool decoder = c.kind == TransformerKind::kDecoder;
  uint32_t hidden = emit.Embeddings();
  // Encoders' model forward keeps the embedding output referenced (a local of
  // BertModel.forward / DistilBertModel.forward) until the encoder returns.
  const uint32_t embeddings = hidden;
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    const uint32_t next = decoder ? emit.DecoderLayer() : emit.EncoderLayer();
    if (decoder || hidden != embeddings) t.Free(hidden);
    hidden = next;
  }
  if (!decoder) t.Free(embeddings);
  if (decoder) {  // final norm
    const uint32_t ln = t.Alloc(emit.Rows(c.hidden_size));
    t.Free(hidden);
    hidden = ln;
  }
  if (c.has_lm_head && c.vocab_size > 0) {
    if (!decoder) {  // masked-LM head: dense, activation, LayerNorm before the decoder
      const uint32_t dense = t.Alloc(emit.Rows(c.hidden_size));
      const uint32_t ln = t.Alloc(emit.Rows(c.hidden_size));
      t.Free(dense);
      t.Free(ln);
    }
    r.logits_bytes = emit.Rows(c.vocab_size);
    t.Alloc(r.logits_bytes);
    r.assumptions.push_back("logits for all " + std::to_string(o.sequence) +
                            " positions are materialised (prefill as HuggingFace computes it)");
  } else if (!decoder) {  // pooler on the first token
    const uint64_t pooled = static_cast<uint64_t>(o.batch) * c.hidden_size * o.activation_bytes;
    const uint32_t dense = t.Alloc(pooled);
    t.Alloc(pooled);
    t.Free(dense);
  }
  t.Free(emit.input_ids());
  if (decoder) {
    r.kv_cache_bytes =
        2ull * static_cast<uint64_t>(c.num_layers) * emit.Rows(c.num_kv_heads * c.head_dim);
    r.assumptions.push_back("KV cache holds " + std::to_string(o.sequence) +
                            " tokens per sequence for all " + std::to_string(c.num_layers) +
                            " layers (" + std::to_string(c.num_kv_heads) + " KV heads)");
  }
  r.assumptions.push_back(c.fused_attention
                              ? "fused attention (SDPA): attention scores are not materialised"
                              : "eager attention: scores and probabilities are materialised");
  return r;
}

}  // namespace modelgrid
