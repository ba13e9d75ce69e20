// HuggingFace folders whose weights are pytorch_model.bin checkpoints (one file, or shards
// with pytorch_model.bin.index.json): read through the zip/pickle reader, headers only, and
// estimated like the same tensors in safetensors. Fixtures from make_hf_bin_fixtures.py
// (torch.save of a state_dict); the error cases are archives built in the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "estimate/estimator.h"
#include "formats/safetensors.h"
#include "support/fixtures.h"
#include "support/pickle_builder.h"
#include "support/zip_builder.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;
using testing::PickleBuilder;
using testing::ZipBuilder;

TEST(HfBinEstimate, BinFoldersEstimateLikeTheirSafetensorsTwin) {
  MG_REQUIRE_FIXTURE(twin, "hf_bin/safetensors");
  MG_REQUIRE_FIXTURE(single, "hf_bin/bin");
  MG_REQUIRE_FIXTURE(sharded, "hf_bin/sharded");
  EstimateOptions o;
  o.batch = 4;
  auto expected = EstimatePath(twin, o);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  for (const std::string& path : {single, sharded}) {
    auto folder = ReadHfModelFolder(path);
    ASSERT_TRUE(folder.ok()) << path << ": " << folder.status().ToString();
    EXPECT_EQ(folder->weights_format, "pytorch");
    EXPECT_EQ(folder->shard_paths.size(), path == single ? 1u : 2u);
    for (const auto& t : folder->tensors) EXPECT_NE(t.name, "lm_head.weight") << "tied: once";
    auto e = EstimatePath(path, o);
    ASSERT_TRUE(e.ok()) << path << ": " << e.status().ToString();
    EXPECT_EQ(e->format, "huggingface");
    EXPECT_EQ(e->parameters, expected->parameters) << path;
    EXPECT_EQ(e->weights_bytes, expected->weights_bytes) << path;
    EXPECT_EQ(e->activation_bytes, expected->activation_bytes) << path;
    EXPECT_EQ(e->total_bytes, expected->total_bytes) << path;
  }
}

// One tensor of `numel` floats in storage "0" under `names` (the later ones tied to the
// first), then "extra.bias" of 4 floats in storage "1".
std::string StateDictArchive(const std::vector<std::string>& names, int32_t numel = 64) {
  PickleBuilder b;
  b.Proto().BeginOrderedDict();
  b.Str(names[0]).Tensor("FloatStorage", "0", numel, {numel / 4, 4}, {4, 1}).Put(0);
  for (size_t i = 1; i < names.size(); ++i) b.Str(names[i]).Get(0);
  b.Str("extra.bias").Tensor("FloatStorage", "1", 4, {4}, {1});
  b.EndDict().Stop();
  ZipBuilder zip;
  zip.Add("archive/data.pkl", b.bytes());
  zip.Add("archive/data/0", std::string(static_cast<size_t>(numel) * 4, '\0'));
  zip.Add("archive/data/1", std::string(16, '\0'));
  zip.Add("archive/version", "3\n");
  return zip.Build();
}

class HfBinEstimateFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mg_hf_bin_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }
  Result<HfModelFolder> Read() { return ReadHfModelFolder(dir_.string()); }
  fs::path dir_;
};

TEST_F(HfBinEstimateFolder, TiedNamesAreOneTensorAndTheIndexMayNameBoth) {
  Write("pytorch_model.bin", StateDictArchive({"embed.weight", "lm_head.weight"}));
  auto single = Read();
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  ASSERT_EQ(single->tensors.size(), 2u);
  EXPECT_EQ(single->tensors[0].name, "embed.weight");
  EXPECT_EQ(single->tensors[0].bytes, 256u);
  EXPECT_EQ(single->tensors[1].name, "extra.bias");

  fs::rename(dir_ / "pytorch_model.bin", dir_ / "pytorch_model-00001-of-00002.bin");
  Write("pytorch_model-00002-of-00002.bin", StateDictArchive({"other.weight"}, 16));
  Write("pytorch_model.bin.index.json", R"({"weight_map": {
      "embed.weight": "pytorch_model-00001-of-00002.bin",
      "lm_head.weight": "pytorch_model-00001-of-00002.bin",
      "extra.bias": "pytorch_model-00001-of-00002.bin",
      "other.weight": "pytorch_model-00002-of-00002.bin"}})");
  auto sharded = Read();
  ASSERT_TRUE(sharded.ok()) << sharded.status().ToString();
  ASSERT_EQ(sharded->tensors.size(), 3u);  // the second extra.bias is not in the index
  EXPECT_EQ(sharded->tensors[2].name, "other.weight");
  EXPECT_EQ(sharded->shard_paths.size(), 2u);
}

TEST_F(HfBinEstimateFolder, SafetensorsWinWhenBothAreThere) {
  Write("pytorch_model.bin", "not read");
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  Write("model.safetensors", bytes + header + std::string(8, '\0'));
  auto folder = Read();
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_EQ(folder->weights_format, "safetensors");
  ASSERT_EQ(folder->tensors.size(), 1u);
}

TEST_F(HfBinEstimateFolder, BadCheckpointsFailWithTheirPath) {
  struct Case {
    std::string file, bytes, index;
    StatusCode code;
    const char* needle;
  };
  const std::string good = StateDictArchive({"a.weight"});
  const Case cases[] = {
      {"pytorch_model.bin", good.substr(0, good.size() / 2), "", StatusCode::kCorruptData,
       "pytorch_model.bin"},
      {"pytorch_model.bin", "\x80\x02\x8a legacy", "", StatusCode::kUnsupported, "legacy"},
      {"pytorch_model.bin",
       ZipBuilder()
           .Add("m/data.pkl", PickleBuilder().Proto().EmptyDict().Stop().bytes())
           .Add("m/constants.pkl", "")
           .Build(),
       "", StatusCode::kInvalidArgument, "TorchScript"},
      {"s1.bin", good, R"({"weight_map": {"a.weight": "s1.bin", "b.weight": "s1.bin"}})",
       StatusCode::kCorruptData, "'b.weight'"},
      {"s1.bin", good, R"({"weight_map": {"a.weight": "../s1.bin"}})", StatusCode::kInvalidArgument,
       "outside the folder"},
      {"s1.bin", good, R"({"weight_map": {"a.weight": "missing.bin"}})", StatusCode::kNotFound,
       "missing.bin"},
      {"s1.bin", good, "[]", StatusCode::kInvalidArgument, "weight_map"},
  };
  for (const auto& c : cases) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Write(c.file, c.bytes);
    if (!c.index.empty()) Write("pytorch_model.bin.index.json", c.index);
    auto folder = Read();
    ASSERT_FALSE(folder.ok()) << c.needle;
    EXPECT_EQ(folder.status().code(), c.code) << folder.status().ToString();
    EXPECT_NE(folder.status().message().find(c.needle), std::string::npos)
        << folder.status().ToString();
  }
}

TEST_F(HfBinEstimateFolder, AFolderWithoutWeightsSaysWhatItLooksFor) {
  Write("training_args.bin", "not weights");  // .bin, but not pytorch_model*.bin
  auto folder = Read();
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.status().code(), StatusCode::kNotFound);
  EXPECT_NE(folder.status().message().find("pytorch_model.bin"), std::string::npos)
      << folder.status().message();
}

}  // namespace
}  // namespace modelgrid
