#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "formats/hf_config.h"

namespace modelgrid {
namespace {

std::string Image(const std::string& header, uint64_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

TEST(Safetensors, ParsesTensorsFromTheHeader) {
  const std::string img =
      Image(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
            R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"__metadata__":{"x":"y"}})",
            32);
  auto file = ParseSafetensors(MemoryByteReader(img));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->tensors.size(), 2u);
  EXPECT_EQ(file->tensors[0].elements, 6u);
  EXPECT_EQ(file->tensors[0].bytes, 24u);
  EXPECT_EQ(file->tensors[1].dtype, DType::kBF16);
  EXPECT_EQ(SumTensors(file->tensors).bytes, 32u);
}

TEST(Safetensors, RejectsLyingHeaders) {
  struct Case {
    std::string header;
    uint64_t data;
    const char* why;
  } cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}})", 8, "offset past end"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", 16, "size mismatch"},
      {R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "negative dim"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "reversed offsets"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       16, "overlap"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       "absurd shape"},
      {R"({"a":{"dtype":"F32"}})", 8, "missing fields"},
      {R"([1,2,3])", 0, "not an object"},
      {R"({"a":)", 0, "malformed json"},
  };
  for (const auto& c : cases) {
    auto file = ParseSafetensors(MemoryByteReader(Image(c.header, c.data)));
    EXPECT_FALSE(file.ok()) << c.why;
  }
}

TEST(Safetensors, RejectsHeaderLengthBeyondFileWithoutAllocating) {
  std::string img(16, '\0');
  uint64_t n = uint64_t{1} << 62;
  std::memcpy(img.data(), &n, 8);
  auto file = ParseSafetensors(MemoryByteReader(img));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kCorruptData);
}

TEST(Safetensors, EveryTruncationFailsCleanly) {
  const std::string img = Image(R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}})", 8);
  for (size_t n = 0; n < img.size(); ++n) {
    EXPECT_FALSE(ParseSafetensors(MemoryByteReader(img.data(), n)).ok()) << n;
  }
}

TEST(HfConfig, ReadsLlamaStyleGroupedQueryAttention) {
  auto c = ParseHfConfig(R"({"architectures":["LlamaForCausalLM"],"model_type":"llama",
      "hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,
      "num_key_value_heads":8,"intermediate_size":14336,"vocab_size":128256,
      "max_position_embeddings":131072})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, TransformerKind::kDecoder);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_TRUE(c->gated_mlp);
  EXPECT_TRUE(c->has_lm_head);
}

TEST(HfConfig, ReadsGpt2AndDistilbertSpellings) {
  auto g = ParseHfConfig(R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2",
      "n_embd":768,"n_layer":12,"n_head":12,"n_inner":null,"vocab_size":50257})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->intermediate_size, 3072);
  EXPECT_FALSE(g->gated_mlp);
  auto d = ParseHfConfig(R"({"architectures":["DistilBertModel"],"model_type":"distilbert",
      "dim":768,"n_layers":6,"n_heads":12,"hidden_dim":3072,"vocab_size":30522})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, TransformerKind::kEncoder);
  EXPECT_FALSE(d->has_lm_head);
}

TEST(HfConfig, RejectsMissingOrAbsurdSizes) {
  EXPECT_FALSE(ParseHfConfig("{}").ok());
  EXPECT_FALSE(ParseHfConfig("not json").ok());
  EXPECT_FALSE(ParseHfConfig(R"({"model_type":"llama","hidden_size":4096})").ok());
  EXPECT_FALSE(ParseHfConfig(R"({"model_type":"llama","hidden_size":100,
      "num_hidden_layers":2,"num_attention_heads":3})")
                   .ok());
  EXPECT_FALSE(ParseHfConfig(R"({"model_type":"llama","hidden_size":4096,
      "num_hidden_layers":2000000,"num_attention_heads":32})")
                   .ok());
}

TEST(HfModelFolder, FollowsTheShardIndex) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "mg_hf_sharded_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
  };
  write("a.safetensors", Image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  write("b.safetensors", Image(R"({"y":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16));
  write("model.safetensors.index.json",
        R"({"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})");
  auto folder = ReadHfModelFolder(dir.string());
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_EQ(folder->tensors.size(), 2u);
  EXPECT_EQ(SumTensors(folder->tensors).bytes, 24u);

  write("model.safetensors.index.json", R"({"weight_map":{"x":"../a.safetensors"}})");
  EXPECT_FALSE(ReadHfModelFolder(dir.string()).ok());
  write("model.safetensors.index.json", R"({"weight_map":{"z":"a.safetensors"}})");
  EXPECT_FALSE(ReadHfModelFolder(dir.string()).ok());
  fs::remove_all(dir);
}

TEST(HfModelFolder, ANonBooleanTieWordEmbeddingsIsAnErrorNotAnException) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "mg_hf_tie_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "model.safetensors", std::ios::binary)
      << Image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  const std::string config = R"({"model_type":"llama","hidden_size":64,"num_hidden_layers":2,
      "num_attention_heads":4,"vocab_size":100,"intermediate_size":128,)";
  std::ofstream(dir / "config.json") << config << R"("tie_word_embeddings":false})";
  auto folder = ReadHfModelFolder(dir.string());
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_FALSE(folder->tie_word_embeddings);
  std::ofstream(dir / "config.json") << config << R"("tie_word_embeddings":"yes"})";
  folder = ReadHfModelFolder(dir.string());
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(folder.status().message().find("tie_word_embeddings"), std::string::npos)
      << folder.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace modelgrid
