#include "formats/torch_archive.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "formats/zip_reader.h"
#include "support/fixtures.h"
#include "support/pickle_builder.h"
#include "support/zip_builder.h"

namespace modelgrid {
namespace {

using testing::FixturesDir;
using testing::PickleBuilder;
using testing::ZipBuilder;

// Opens a fixture that MG_REQUIRE_FIXTURE found.
std::unique_ptr<FileByteReader> Open(const std::string& path) {
  auto reader = FileByteReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return reader.ok() ? std::move(reader).value() : nullptr;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const TensorInfo* FindTensor(const TorchArchive& a, const std::string& name) {
  for (const auto& t : a.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

struct CvCase {
  const char* name;
  size_t tensors;
  uint64_t bytes;  // parameters + buffers
  size_t int64_tensors;
  const char* some_tensor;
};

class TorchArchiveCv : public ::testing::TestWithParam<CvCase> {};

TEST_P(TorchArchiveCv, MatchesTorchvision) {
  const CvCase& c = GetParam();
  MG_REQUIRE_FIXTURE(path, std::string("cv/") + c.name + ".pt");
  auto reader = Open(path);
  ASSERT_NE(reader, nullptr);
  const auto start = std::chrono::steady_clock::now();
  auto archive = ParseTorchArchive(*reader);
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(archive->root, c.name);
  EXPECT_TRUE(archive->is_torchscript);
  EXPECT_EQ(archive->tensors.size(), c.tensors);
  EXPECT_EQ(SumTensors(archive->tensors).bytes, c.bytes);
  EXPECT_EQ(archive->storage_bytes, c.bytes);
  size_t int64s = 0;
  for (const auto& t : archive->tensors) int64s += t.dtype == DType::kI64;
  EXPECT_EQ(int64s, c.int64_tensors);
  EXPECT_NE(FindTensor(*archive, c.some_tensor), nullptr) << c.some_tensor;
}

INSTANTIATE_TEST_SUITE_P(
    TorchArchive, TorchArchiveCv,
    ::testing::Values(
        // 11,689,512 params (46,758,048 B) + 38,560 B of BN buffers.
        CvCase{"resnet18", 122, 46758048 + 38560, 20, "layer1.0.conv1.weight"},
        CvCase{"resnet50", 320, 102228128 + 212904, 53, "layer4.2.bn3.running_var"},
        CvCase{"mobilenet_v3_large", 312, 5483032ull * 4 + 97968, 46, "classifier.3.bias"},
        CvCase{"vit_b_16", 152, 86567656ull * 4, 0,
               "encoder.layers.encoder_layer_11.mlp.0.weight"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TorchArchive, Resnet18Details) {
  MG_REQUIRE_FIXTURE(path, "cv/resnet18.pt");
  auto reader = Open(path);
  ASSERT_NE(reader, nullptr);
  auto archive = ParseTorchArchive(*reader);
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  const TensorInfo* conv = FindTensor(*archive, "conv1.weight");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->dtype, DType::kF32);
  EXPECT_EQ(conv->shape, (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(conv->bytes, 64u * 3 * 7 * 7 * 4);
  const TensorInfo* tracked = FindTensor(*archive, "bn1.num_batches_tracked");
  ASSERT_NE(tracked, nullptr);
  EXPECT_EQ(tracked->dtype, DType::kI64);
  EXPECT_TRUE(tracked->shape.empty());
  EXPECT_EQ(tracked->bytes, 8u);
}

// Compares against expected.json written by scripts/fixtures/make_torch_fixtures.py.
class TorchArchiveSmall : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchArchiveSmall, MatchesTorch) {
  const std::string file = GetParam();
  MG_REQUIRE_FIXTURE(path, "torch/" + file);
  auto reader = Open(path);
  ASSERT_NE(reader, nullptr);
  auto expected = nlohmann::json::parse(ReadAll(FixturesDir() + "/torch/expected.json"))[file];
  auto archive = ParseTorchArchive(*reader);
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  EXPECT_EQ(archive->is_torchscript, file.ends_with(".pt"));
  EXPECT_EQ(archive->storage_bytes, expected["storage_bytes"].get<uint64_t>());
  std::map<std::string, const TensorInfo*> by_name;
  for (const auto& t : archive->tensors) by_name[t.name] = &t;
  ASSERT_EQ(archive->tensors.size(), expected["tensors"].size());
  for (const auto& e : expected["tensors"]) {
    const std::string name = e["name"];
    ASSERT_TRUE(by_name.count(name)) << name;
    const TensorInfo& t = *by_name[name];
    EXPECT_EQ(DTypeName(t.dtype), e["dtype"].get<std::string>()) << name;
    EXPECT_EQ(t.shape, e["shape"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(t.bytes, e["bytes"].get<uint64_t>()) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(TorchArchive, TorchArchiveSmall,
                         ::testing::Values("state_dict.pth", "tied.pth", "fp16_module.pt",
                                           "whole_model.pth"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('.'));
                         });

TEST(TorchArchive, EveryTruncationOfARealArchiveFails) {
  MG_REQUIRE_FIXTURE(path, "torch/tied.pth");
  auto reader = Open(path);
  ASSERT_NE(reader, nullptr);
  const std::string bytes = ReadAll(reader->path());
  for (size_t n = 0; n < bytes.size(); ++n) {
    MemoryByteReader prefix(bytes.data(), n);
    EXPECT_FALSE(ParseTorchArchive(prefix).ok()) << n;
  }
}

// A state_dict archive built by hand: {name: tensor} over the given storages.
std::string Archive(const PickleBuilder& pickle, std::vector<std::pair<std::string, size_t>> data,
                    uint16_t data_method = 0) {
  ZipBuilder zip;
  zip.Add("archive/data.pkl", pickle.bytes());
  for (const auto& [key, bytes] : data) {
    zip.Add("archive/data/" + key, std::string(bytes, '\0'), data_method);
  }
  zip.Add("archive/version", "3\n");
  return zip.Build();
}

Result<TorchArchive> Parse(const std::string& bytes) {
  MemoryByteReader reader(bytes);
  return ParseTorchArchive(reader);
}

PickleBuilder TiedDict() {
  PickleBuilder b;
  b.Proto().BeginOrderedDict();
  b.Str("embed.weight").Tensor("BFloat16Storage", "0", 64, {16, 4}, {4, 1}).Put(0);
  b.Str("lm_head.weight").Get(0);
  b.Str("embed.rows").Tensor("BFloat16Storage", "0", 64, {3, 4}, {4, 1}, 8);
  return std::move(b.EndDict().Stop());
}

TEST(TorchArchive, TiedTensorsShareOneStorage) {
  auto archive = Parse(Archive(TiedDict(), {{"0", 128}}));
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  EXPECT_EQ(archive->root, "archive");
  EXPECT_FALSE(archive->is_torchscript);
  ASSERT_EQ(archive->tensors.size(), 3u);
  EXPECT_EQ(archive->tensors[1].name, "lm_head.weight");
  EXPECT_EQ(archive->tensors[1].dtype, DType::kBF16);
  EXPECT_EQ(archive->tensors[2].bytes, 24u);
  EXPECT_EQ(archive->storage_bytes, 128u);
}

TEST(TorchArchive, ModuleStateNamesAttributes) {
  // Net() with BUILD {'fc': Linear() with BUILD {'weight': tensor}} as TorchScript writes it.
  PickleBuilder b;
  b.Proto().Global("__torch__.Net", "Net").EmptyTuple().NewObj().EmptyDict().Mark();
  b.Str("training").Bool(false);
  b.Str("fc").Global("__torch__.torch.nn.modules.linear", "Linear").EmptyTuple().NewObj();
  b.EmptyDict().Mark().Str("weight").Tensor("HalfStorage", "0", 6, {2, 3}, {3, 1});
  b.SetItems().Build().SetItems().Build().Stop();
  ZipBuilder zip;
  zip.Add("net/data.pkl", b.bytes()).Add("net/code/__torch__/Net.py", "x", 8);
  zip.Add("net/data/0", std::string(12, '\0')).Add("net/constants.pkl", "\x80\x02).");
  auto archive = Parse(zip.Build());
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  EXPECT_TRUE(archive->is_torchscript);
  ASSERT_EQ(archive->tensors.size(), 1u);
  EXPECT_EQ(archive->tensors[0].name, "fc.weight");
  EXPECT_EQ(archive->tensors[0].dtype, DType::kF16);
}

TEST(TorchArchive, RejectsCompressedDataRecord) {
  auto archive = Parse(Archive(TiedDict(), {{"0", 128}}, 8));
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruptData) << archive.status().ToString();
}

TEST(TorchArchive, RejectsStorageLargerThanRecord) {
  auto archive = Parse(Archive(TiedDict(), {{"0", 127}}));
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruptData) << archive.status().ToString();
}

TEST(TorchArchive, RejectsMissingRecord) {
  auto archive = Parse(Archive(TiedDict(), {{"1", 128}}));
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruptData) << archive.status().ToString();
}

TEST(TorchArchive, RejectsViewOutsideStorage) {
  PickleBuilder b;
  b.Proto().BeginOrderedDict().Str("w").Tensor("FloatStorage", "0", 4, {2, 3}, {3, 1});
  b.EndDict().Stop();
  auto archive = Parse(Archive(b, {{"0", 16}}));
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruptData) << archive.status().ToString();
}

TEST(TorchArchive, RejectsUnknownStorageClass) {
  PickleBuilder b;
  b.Proto().Tensor("MysteryStorage", "0", 1, {1}, {1}).Stop();
  auto archive = Parse(Archive(b, {{"0", 16}}));
  EXPECT_EQ(archive.status().code(), StatusCode::kUnsupported) << archive.status().ToString();
}

TEST(TorchArchive, RejectsNonTorchInputs) {
  EXPECT_EQ(Parse(ZipBuilder().Add("model.onnx", "x").Build()).status().code(),
            StatusCode::kCorruptData);
  EXPECT_EQ(Parse("\x80\x02\x8a\x0alegacy").status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(Parse("not a zip at all").status().code(), StatusCode::kCorruptData);
}

TEST(TorchArchive, RejectsBadPickle) {
  PickleBuilder b;
  b.Proto().Op(0xff).Stop();
  EXPECT_EQ(Parse(Archive(b, {})).status().code(), StatusCode::kCorruptData);
}

TEST(TorchArchive, BillionLaughsIsBounded) {
  // A dict whose values double at each level: 2^40 paths to walk if nothing bounded it.
  PickleBuilder b;
  b.Proto().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 1, {1}, {1});
  b.SetItems().Put(0);
  for (uint32_t i = 1; i < 40; ++i) {
    b.EmptyDict().Mark().Str("a").Get(i - 1).Str("b").Get(i - 1).SetItems().Put(i);
  }
  b.Stop();
  const auto start = std::chrono::steady_clock::now();
  auto archive = Parse(Archive(b, {{"0", 4}}));
  EXPECT_EQ(archive.status().code(), StatusCode::kResourceExhausted) << archive.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(TorchArchive, CyclicObjectsAreWalkedOnce) {
  // d = {'self': d, 'w': tensor}
  PickleBuilder b;
  b.Proto().EmptyDict().Put(0).Mark().Str("self").Get(0).Str("w");
  b.Tensor("FloatStorage", "0", 1, {1}, {1}).SetItems().Stop();
  auto archive = Parse(Archive(b, {{"0", 4}}));
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  ASSERT_EQ(archive->tensors.size(), 1u);
  EXPECT_EQ(archive->tensors[0].name, "w");
}

}  // namespace
}  // namespace modelgrid
