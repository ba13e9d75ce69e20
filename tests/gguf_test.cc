#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "support/gguf_builder.h"

namespace modelgrid {
namespace {

using namespace modelgrid::testutil;  // NOLINT: the builder and the GGUF/ggml enums

Result<GgufFile> Parse(const std::string& bytes) {
  MemoryByteReader reader(bytes);
  return ParseGguf(reader);
}

// A small file with one kv pair of every value type and three tensors; under 1 KiB.
GgufBuilder SmallBuilder(uint32_t version = 3) {
  GgufBuilder b(version);
  b.String("general.architecture", "llama")
      .U8("t.u8", 200)
      .I8("t.i8", -100)
      .U16("t.u16", 60000)
      .I16("t.i16", -30000)
      .U32("t.u32", 4000000000u)
      .I32("t.i32", -2000000000)
      .U64("t.u64", uint64_t{1} << 40)
      .I64("t.i64", -(int64_t{1} << 40))
      .F32("t.f32", 0.5f)
      .F64("t.f64", -2.25)
      .Bool("t.bool", true)
      .StringArray("t.strs", {"a", "bb", "ccc"})
      .IntArray("t.ints", kGgufI32, {3, -7, 9})
      .F32Array("t.floats", {1.0f, 2.0f})
      .Tensor("a.weight", {32, 2}, kGgmlQ4_0)
      .Tensor("b.weight", {4}, kGgmlF32)
      .Tensor("c.weight", {64}, kGgmlQ8_0);  // 68 bytes, then 28 bytes of padding
  return b;
}

TEST(GgufTest, ParsesEveryMetadataType) {
  auto file = Parse(SmallBuilder().Build());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->version, 3u);
  const auto& m = file->metadata;
  EXPECT_EQ(std::get<std::string>(m.at("general.architecture").scalar), "llama");
  EXPECT_EQ(std::get<uint64_t>(m.at("t.u8").scalar), 200u);
  EXPECT_EQ(std::get<int64_t>(m.at("t.i8").scalar), -100);
  EXPECT_EQ(std::get<uint64_t>(m.at("t.u16").scalar), 60000u);
  EXPECT_EQ(std::get<int64_t>(m.at("t.i16").scalar), -30000);
  EXPECT_EQ(std::get<uint64_t>(m.at("t.u32").scalar), 4000000000u);
  EXPECT_EQ(std::get<int64_t>(m.at("t.i32").scalar), -2000000000);
  EXPECT_EQ(std::get<uint64_t>(m.at("t.u64").scalar), uint64_t{1} << 40);
  EXPECT_EQ(std::get<int64_t>(m.at("t.i64").scalar), -(int64_t{1} << 40));
  EXPECT_DOUBLE_EQ(std::get<double>(m.at("t.f32").scalar), 0.5);
  EXPECT_DOUBLE_EQ(std::get<double>(m.at("t.f64").scalar), -2.25);
  EXPECT_TRUE(std::get<bool>(m.at("t.bool").scalar));

  const GgufValue& strs = m.at("t.strs");
  EXPECT_TRUE(strs.is_array);
  EXPECT_EQ(strs.array_length, 3u);
  ASSERT_EQ(strs.items.size(), 3u);
  EXPECT_EQ(std::get<std::string>(strs.items[2]), "ccc");
  const GgufValue& ints = m.at("t.ints");
  ASSERT_EQ(ints.items.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(ints.items[1]), -7);
  EXPECT_EQ(ints.int_max, 9);
  EXPECT_FALSE(m.at("t.floats").int_max.has_value());
  EXPECT_DOUBLE_EQ(std::get<double>(m.at("t.floats").items[1]), 2.0);
}

TEST(GgufTest, ReadsTensorInfos) {
  for (uint32_t version : {2u, 3u}) {
    const std::string bytes = SmallBuilder(version).Build();
    auto file = Parse(bytes);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(file->version, version);
    ASSERT_EQ(file->tensors.size(), 3u);
    EXPECT_EQ(file->data_offset % 32, 0u);
    const TensorInfo& a = file->tensors[0];
    EXPECT_EQ(a.name, "a.weight");
    EXPECT_EQ(a.dtype, DType::kBlockQuantized);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 32}));  // row-major: ne reversed
    EXPECT_EQ(a.elements, 64u);
    EXPECT_EQ(a.bytes, 2u * 18u);
    EXPECT_EQ(file->tensors[1].dtype, DType::kF32);
    EXPECT_EQ(file->tensors[1].bytes, 16u);
    EXPECT_EQ(file->tensors[2].bytes, 2u * 34u);
    EXPECT_EQ(file->ggml_types, (std::vector<uint32_t>{kGgmlQ4_0, kGgmlF32, kGgmlQ8_0}));
  }
}

TEST(GgufTest, EveryGgmlTypeHasTheSpecLayout) {
  struct Case {
    uint32_t type;
    const char* name;
    uint64_t block_elements;
    uint64_t block_bytes;
    DType dtype;
  };
  const DType q = DType::kBlockQuantized;
  const Case cases[] = {
      {kGgmlF32, "F32", 1, 4, DType::kF32},    {kGgmlF16, "F16", 1, 2, DType::kF16},
      {kGgmlQ4_0, "Q4_0", 32, 18, q},          {kGgmlQ4_1, "Q4_1", 32, 20, q},
      {kGgmlQ5_0, "Q5_0", 32, 22, q},          {kGgmlQ5_1, "Q5_1", 32, 24, q},
      {kGgmlQ8_0, "Q8_0", 32, 34, q},          {kGgmlQ8_1, "Q8_1", 32, 36, q},
      {kGgmlQ2_K, "Q2_K", 256, 84, q},         {kGgmlQ3_K, "Q3_K", 256, 110, q},
      {kGgmlQ4_K, "Q4_K", 256, 144, q},        {kGgmlQ5_K, "Q5_K", 256, 176, q},
      {kGgmlQ6_K, "Q6_K", 256, 210, q},        {kGgmlQ8_K, "Q8_K", 256, 292, q},
      {kGgmlIQ2_XXS, "IQ2_XXS", 256, 66, q},   {kGgmlIQ2_XS, "IQ2_XS", 256, 74, q},
      {kGgmlIQ3_XXS, "IQ3_XXS", 256, 98, q},   {kGgmlIQ1_S, "IQ1_S", 256, 50, q},
      {kGgmlIQ4_NL, "IQ4_NL", 32, 18, q},      {kGgmlIQ3_S, "IQ3_S", 256, 110, q},
      {kGgmlIQ2_S, "IQ2_S", 256, 82, q},       {kGgmlIQ4_XS, "IQ4_XS", 256, 136, q},
      {kGgmlI8, "I8", 1, 1, DType::kI8},       {kGgmlI16, "I16", 1, 2, DType::kI16},
      {kGgmlI32, "I32", 1, 4, DType::kI32},    {kGgmlI64, "I64", 1, 8, DType::kI64},
      {kGgmlF64, "F64", 1, 8, DType::kF64},    {kGgmlIQ1_M, "IQ1_M", 256, 56, q},
      {kGgmlBF16, "BF16", 1, 2, DType::kBF16}, {kGgmlTQ1_0, "TQ1_0", 256, 54, q},
      {kGgmlTQ2_0, "TQ2_0", 256, 66, q},       {kGgmlMXFP4, "MXFP4", 32, 17, q},
  };
  GgufBuilder b;
  for (const Case& c : cases) {
    // The builder's table is an independent copy; check it against the spec numbers too.
    EXPECT_EQ(GgmlBlockOf(c.type).elements, c.block_elements) << c.name;
    EXPECT_EQ(GgmlBlockOf(c.type).bytes, c.block_bytes) << c.name;
    b.Tensor(c.name, {512, 3}, c.type);
  }
  auto file = Parse(b.Build());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->tensors.size(), std::size(cases));
  for (size_t i = 0; i < std::size(cases); ++i) {
    const Case& c = cases[i];
    EXPECT_EQ(GgmlTypeName(c.type), c.name);
    EXPECT_EQ(file->tensors[i].bytes, 512 * 3 / c.block_elements * c.block_bytes) << c.name;
    EXPECT_EQ(file->tensors[i].dtype, c.dtype) << c.name;
  }
  EXPECT_EQ(GgmlTypeName(1000), "type1000");
}

TEST(GgufTest, HonoursCustomAlignment) {
  GgufBuilder b;
  b.Alignment(64).Tensor("x", {8}, kGgmlF32).Tensor("y", {8}, kGgmlF32);
  auto file = Parse(b.Build());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->alignment, 64u);
  EXPECT_EQ(file->data_offset % 64, 0u);
}

TEST(GgufTest, RejectsBadAlignment) {
  for (uint32_t alignment : {0u, 48u, 3u}) {
    GgufBuilder b;
    b.U32("general.alignment", alignment).Tensor("x", {8}, kGgmlF32);
    EXPECT_EQ(Parse(b.Build()).status().code(), StatusCode::kCorruptData) << alignment;
  }
  GgufBuilder s;
  s.String("general.alignment", "32");
  EXPECT_EQ(Parse(s.Build()).status().code(), StatusCode::kCorruptData);
}

TEST(GgufTest, RejectsMisalignedTensorOffset) {
  GgufBuilder b;
  b.Tensor("x", {8}, kGgmlF32).TensorAt("y", {8}, kGgmlF32, 40);
  auto file = Parse(b.Build());
  EXPECT_EQ(file.status().code(), StatusCode::kCorruptData);
  EXPECT_NE(file.status().message().find("alignment"), std::string::npos);
}

TEST(GgufTest, RejectsTensorDataOutsideTheFile) {
  GgufBuilder b;
  b.Tensor("x", {8}, kGgmlF32);
  std::string bytes = b.Build();
  bytes.resize(bytes.size() - 32);  // the data section is now empty
  EXPECT_EQ(Parse(bytes).status().code(), StatusCode::kCorruptData);

  for (uint64_t offset : {uint64_t{1} << 20, ~uint64_t{31}}) {  // far away; near 2^64
    GgufBuilder far;
    far.TensorAt("x", {8}, kGgmlF32, offset);
    EXPECT_EQ(Parse(far.Header()).status().code(), StatusCode::kCorruptData) << offset;
  }
}

TEST(GgufTest, EveryTruncatedPrefixFails) {
  const std::string bytes = SmallBuilder().Build();
  ASSERT_TRUE(Parse(bytes).ok());
  // Tensor data is followed by padding to the alignment; every prefix that cuts into the
  // header or into tensor data must fail. Offsets are sequential and 32-aligned.
  auto file = Parse(bytes);
  uint64_t end = 0;
  uint64_t next = 0;
  for (const TensorInfo& t : file->tensors) {
    end = next + t.bytes;
    next = (end + 31) / 32 * 32;
  }
  end += file->data_offset;
  ASSERT_GT(end, bytes.size() - 32);
  for (size_t n = 0; n < end; ++n) {
    const std::vector<char> prefix(bytes.begin(), bytes.begin() + n);  // exact size for ASan
    MemoryByteReader reader(prefix.data(), prefix.size());
    auto r = ParseGguf(reader);
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruptData) << n;
    }
  }
}

TEST(GgufTest, RejectsBadMagicAndVersions) {
  GgufBuilder magic;
  magic.Magic(0x46554746);
  EXPECT_EQ(Parse(magic.Build()).status().code(), StatusCode::kCorruptData);
  EXPECT_EQ(Parse(GgufBuilder(1).Build()).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(Parse(GgufBuilder(4).Build()).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(Parse(GgufBuilder(0x03000000).Build()).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(Parse("").status().code(), StatusCode::kCorruptData);
}

TEST(GgufTest, HugeCountsFailFastWithoutAllocating) {
  for (uint64_t n : {uint64_t{1} << 60, ~uint64_t{0}, uint64_t{(1 << 20) + 1}, uint64_t{1000}}) {
    GgufBuilder t;
    t.TensorCount(n);
    EXPECT_EQ(Parse(t.Build()).status().code(), StatusCode::kCorruptData) << n;
    GgufBuilder k;
    k.KvCount(n);
    EXPECT_EQ(Parse(k.Build()).status().code(), StatusCode::kCorruptData) << n;
  }
}

// Little-endian helpers for hand-written kv pairs.
std::string Le(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}
std::string Key(const std::string& k, uint32_t type) { return Le(k.size(), 8) + k + Le(type, 4); }

TEST(GgufTest, RejectsHugeStringsAndArrays) {
  const std::vector<std::string> bad_kvs = {
      Le(uint64_t{1} << 62, 8) + "key",                                    // key length
      Key("s", kGgufString) + Le((1 << 20) + 1, 8) + std::string(8, 'x'),  // > 1 MiB
      Key("a", kGgufArray) + Le(kGgufU32, 4) + Le(uint64_t{1} << 61, 8),   // u32 array
      Key("a", kGgufArray) + Le(kGgufString, 4) + Le(uint64_t{1} << 40, 8),
      Key("a", kGgufArray) + Le(kGgufU8, 4) + Le(100, 8) + std::string(50, '\0'),
      Key("v", 13) + Le(0, 8),                      // unknown type
      Key("a", kGgufArray) + Le(77, 4) + Le(1, 8),  // unknown elem
  };
  for (size_t i = 0; i < bad_kvs.size(); ++i) {
    GgufBuilder b;
    b.RawKv(bad_kvs[i]);
    EXPECT_EQ(Parse(b.Build()).status().code(), StatusCode::kCorruptData) << i;
  }
  GgufBuilder nested;
  nested.RawKv(Key("a", kGgufArray) + Le(kGgufArray, 4) + Le(1, 8) + Le(kGgufU8, 4) + Le(1, 8) +
               "x");
  EXPECT_EQ(Parse(nested.Build()).status().code(), StatusCode::kUnsupported);
}

TEST(GgufTest, LongArraysKeepOnlyAPrefix) {
  std::vector<std::string> tokens(1000);
  std::vector<int64_t> ints(5000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = "tok" + std::to_string(i);
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<int64_t>(i);
  GgufBuilder b;
  b.StringArray("tokens", tokens).IntArray("big", kGgufI32, ints).Bool("after", true);
  auto file = Parse(b.Build());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const GgufValue& t = file->metadata.at("tokens");
  EXPECT_EQ(t.array_length, 1000u);
  ASSERT_EQ(t.items.size(), 64u);
  EXPECT_EQ(std::get<std::string>(t.items[63]), "tok63");
  EXPECT_EQ(file->metadata.at("big").items.size(), 64u);
  EXPECT_FALSE(file->metadata.at("big").int_max.has_value());  // too long to scan
  EXPECT_TRUE(std::get<bool>(file->metadata.at("after").scalar));
}

TEST(GgufTest, RejectsBadTensorInfos) {
  GgufBuilder dims;
  dims.Tensor("x", {1, 1, 1, 1, 1, 1, 1, 1, 1}, kGgmlF32);
  EXPECT_EQ(Parse(dims.Build()).status().code(), StatusCode::kCorruptData);
  GgufBuilder block;
  block.Tensor("x", {33, 2}, kGgmlQ4_0);
  EXPECT_EQ(Parse(block.Build()).status().code(), StatusCode::kCorruptData);
  GgufBuilder negative;
  negative.Tensor("x", {~uint64_t{0}}, kGgmlF32);
  EXPECT_EQ(Parse(negative.Header()).status().code(), StatusCode::kCorruptData);
  GgufBuilder overflow;
  overflow.Tensor("x", {uint64_t{1} << 40, uint64_t{1} << 40}, kGgmlF32);
  EXPECT_EQ(Parse(overflow.Header()).status().code(), StatusCode::kCorruptData);
  GgufBuilder dup;
  dup.Tensor("x", {8}, kGgmlF32).Tensor("x", {8}, kGgmlF32);
  EXPECT_EQ(Parse(dup.Build()).status().code(), StatusCode::kCorruptData);
  GgufBuilder dup_key;
  dup_key.U32("k", 1).U32("k", 2);
  EXPECT_EQ(Parse(dup_key.Build()).status().code(), StatusCode::kCorruptData);
  for (uint32_t type : {200u, 31u, 4u, 40u}) {
    GgufBuilder unknown;
    unknown.TensorAt("x", {32}, type, 0);
    auto r = Parse(unknown.Header() + std::string(4096, '\0'));
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << type;
  }
}

TEST(GgufTest, MapsLlamaGqaConfig) {
  LlamaGgufShape shape;  // 2 layers, 256 hidden, 8 heads, 2 kv heads, 512 ffn, 1024 vocab
  auto file = Parse(LlamaGguf(shape).Build());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors.size(), 2u + 9u * shape.layers + 1u);
  auto c = GgufTransformerConfig(*file);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->kind, TransformerKind::kDecoder);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->hidden_size, 256);
  EXPECT_EQ(c->num_heads, 8);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->intermediate_size, 512);
  EXPECT_EQ(c->vocab_size, 1024);
  EXPECT_EQ(c->max_positions, 4096);
  EXPECT_TRUE(c->gated_mlp);
  EXPECT_TRUE(c->has_lm_head);
}

TEST(GgufTest, ConfigFallbacks) {
  // Vocab from token_embd.weight; kv heads default to heads; key_length gives head_dim.
  GgufBuilder b;
  b.String("general.architecture", "gpt2")
      .U32("gpt2.block_count", 4)
      .U32("gpt2.embedding_length", 64)
      .U32("gpt2.attention.head_count", 4)
      .U32("gpt2.attention.key_length", 32)
      .Tensor("token_embd.weight", {64, 50257}, kGgmlF16);
  auto file = Parse(b.Build());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto c = GgufTransformerConfig(*file);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->vocab_size, 50257);
  EXPECT_FALSE(c->gated_mlp);

  // Per-layer kv heads (an array): the largest; vocab_size key; encoder architecture.
  GgufBuilder bert;
  bert.String("general.architecture", "bert")
      .U32("bert.block_count", 3)
      .U32("bert.embedding_length", 64)
      .U32("bert.attention.head_count", 8)
      .IntArray("bert.attention.head_count_kv", kGgufI32, {2, 8, 4})
      .U32("bert.vocab_size", 30522);
  auto bf = Parse(bert.Build());
  ASSERT_TRUE(bf.ok()) << bf.status().ToString();
  auto bc = GgufTransformerConfig(*bf);
  ASSERT_TRUE(bc.has_value());
  EXPECT_EQ(bc->kind, TransformerKind::kEncoder);
  EXPECT_FALSE(bc->has_lm_head);
  EXPECT_EQ(bc->num_kv_heads, 8);
  EXPECT_EQ(bc->head_dim, 8);
  EXPECT_EQ(bc->vocab_size, 30522);

  GgufBuilder none;
  none.U32("llama.block_count", 2);
  EXPECT_FALSE(GgufTransformerConfig(*Parse(none.Build())).has_value());
  GgufBuilder partial;
  partial.String("general.architecture", "mamba").U32("mamba.block_count", 2);
  EXPECT_FALSE(GgufTransformerConfig(*Parse(partial.Build())).has_value());
}

TEST(GgufTest, ParsesMultiGigabyteSparseFile) {
  LlamaGgufShape shape{.layers = 32,
                       .hidden = 4096,
                       .heads = 32,
                       .kv_heads = 8,
                       .ffn = 14336,
                       .vocab = 32000,
                       .context = 8192};
  const GgufBuilder b = LlamaGguf(shape);  // Llama-2-7B-like with GQA, Q4_K weights
  const std::string path = ::testing::TempDir() + "/gguf_test_sparse.gguf";
  std::string error;
  ASSERT_TRUE(b.WriteSparse(path, &error)) << error;
  auto reader = FileByteReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_GT((*reader)->size(), uint64_t{3} << 30);
  EXPECT_EQ((*reader)->size(), b.FileSize());
  auto file = ParseGguf(**reader);
  std::remove(path.c_str());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors.size(), 3u + 9u * 32u);
  const TensorTotals totals = SumTensors(file->tensors);
  EXPECT_GT(totals.bytes, uint64_t{3} << 30);
  EXPECT_LE(file->data_offset + totals.bytes, b.FileSize());
  auto c = GgufTransformerConfig(*file);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->vocab_size, 32000);
}

}  // namespace
}  // namespace modelgrid
