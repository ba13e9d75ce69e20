// ONNX parsing: the protobuf wire reader, hand-built models (valid and broken), external
// data checks, and the torchvision fixtures when present.
#include "formats/onnx.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "formats/protobuf_wire.h"
#include "support/protobuf_builder.h"

namespace modelgrid {
namespace {

using testing::ProtoBuilder;
namespace ob = testing::onnx_build;

std::string FixtureDir() {
  const char* env = std::getenv("MODELGRID_FIXTURES");
  return env != nullptr ? env : MODELGRID_SOURCE_DIR "/.fixtures";
}

// A small conv model: x[batch,3,8,8] -> Conv(W,B) -> Relu -> Reshape(shape) -> y.
ob::Graph SmallGraph() {
  ob::Graph g;
  g.initializers.push_back(ob::RawTensor("W", ob::kFloat, {4, 3, 3, 3}));
  g.initializers.push_back(ob::FloatTensor("B", {0.f, 1.f, 2.f, 3.f}));
  g.initializers.push_back(ob::Int64Tensor("shape", {0, -1}));
  g.inputs.push_back(ob::ValueInfo("x", ob::kFloat, {"batch", 3, 8, 8}));
  g.inputs.push_back(ob::ValueInfo("W", ob::kFloat, {4, 3, 3, 3}));  // listed twice: not an input
  g.nodes.push_back(ob::Node("Conv", {"x", "W", "B"}, {"c"},
                             {ob::AttrInts("pads", {1, 1, 1, 1}, /*packed=*/true),
                              ob::AttrInts("strides", {1, 1}), ob::AttrInt("group", 1)}));
  g.nodes.push_back(ob::Node("Relu", {"c"}, {"r"}));
  g.nodes.push_back(ob::Node("Reshape", {"r", "shape"}, {"y"}));
  g.outputs.push_back(ob::ValueInfo("y", ob::kFloat, {"batch", 256}));
  return g;
}

TEST(OnnxWireTest, VarintsAndLimits) {
  const uint8_t ok[] = {0xac, 0x02};
  size_t pos = 0;
  auto v = pb::DecodeVarint(ok, sizeof ok, &pos);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 300u);
  EXPECT_EQ(pos, 2u);

  const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  pos = 0;
  ASSERT_TRUE(pb::DecodeVarint(max, sizeof max, &pos).ok());

  const uint8_t overflow[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  pos = 0;
  EXPECT_EQ(pb::DecodeVarint(overflow, sizeof overflow, &pos).status().code(),
            StatusCode::kCorruptData);
  const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  pos = 0;
  EXPECT_FALSE(pb::DecodeVarint(eleven, sizeof eleven, &pos).ok());
  const uint8_t truncated[] = {0x80};
  pos = 0;
  EXPECT_FALSE(pb::DecodeVarint(truncated, sizeof truncated, &pos).ok());
}

TEST(OnnxWireTest, RejectsGroupsAndOverlongLengths) {
  ProtoBuilder group;
  group.Tag(5, 3);
  MemoryByteReader r1(group.bytes());
  pb::MessageReader m1(r1);
  EXPECT_EQ(m1.Next().status().code(), StatusCode::kCorruptData);

  std::string overlong =
      ProtoBuilder().Tag(2, 2).bytes() + ProtoBuilder::EncodeVarint(1000) + "abc";
  MemoryByteReader r2(overlong);
  pb::MessageReader m2(r2);
  EXPECT_EQ(m2.Next().status().code(), StatusCode::kCorruptData);

  // Field number 0 is invalid.
  std::string zero = ProtoBuilder::EncodeVarint(0) + "x";
  MemoryByteReader r3(zero);
  pb::MessageReader m3(r3);
  EXPECT_FALSE(m3.Next().ok());
}

TEST(OnnxWireTest, PackedAndUnpackedVarints) {
  ProtoBuilder b;
  b.Varint(1, 7).PackedVarints(1, {1, 2, 300});
  MemoryByteReader r(b.bytes());
  pb::MessageReader m(r);
  std::vector<int64_t> out;
  while (!m.done()) {
    auto f = m.Next();
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(m.AppendVarints(*f, &out, 64).ok());
  }
  EXPECT_EQ(out, (std::vector<int64_t>{7, 1, 2, 300}));
  std::vector<int64_t> small;
  pb::MessageReader again(r);
  ASSERT_TRUE(again.Next().ok());
  auto f2 = again.Next();
  ASSERT_TRUE(f2.ok());
  EXPECT_FALSE(again.AppendVarints(*f2, &small, 2).ok());  // 3 values > limit 2
  auto count = again.CountValues(*f2, pb::WireType::kVarint);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3u);
}

TEST(OnnxWireTest, DepthLimit) {
  // 40 nested messages, each field 1.
  ProtoBuilder inner;
  inner.Varint(2, 1);
  for (int i = 0; i < 40; ++i) {
    ProtoBuilder outer;
    outer.Message(1, inner);
    inner = outer;
  }
  MemoryByteReader r(inner.bytes());
  pb::MessageReader m(r);
  Status last;
  for (int depth = 0; depth < 41; ++depth) {
    auto f = m.Next();
    ASSERT_TRUE(f.ok());
    auto sub = m.Sub(*f);
    if (!sub.ok()) {
      last = sub.status();
      break;
    }
    m = *sub;
  }
  EXPECT_EQ(last.code(), StatusCode::kCorruptData);
}

TEST(OnnxParseTest, SmallModel) {
  std::string bytes = ob::Model(SmallGraph());
  MemoryByteReader reader(bytes);
  auto model = ParseOnnx(reader, "/nonexistent");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->ir_version, 8);
  EXPECT_EQ(model->producer_name, "modelgrid-test");
  EXPECT_EQ(model->opsets.at(""), 17);
  ASSERT_EQ(model->initializers.size(), 3u);
  EXPECT_EQ(model->initializers[0].name, "W");
  EXPECT_EQ(model->initializers[0].dtype, DType::kF32);
  EXPECT_EQ(model->initializers[0].shape, (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(model->initializers[0].bytes, 4u * 3 * 3 * 3 * 4);
  EXPECT_EQ(model->initializers[1].bytes, 16u);
  EXPECT_EQ(model->initializers[2].bytes, 16u);
  EXPECT_EQ(model->small_int64_initializers.at("shape"), (std::vector<int64_t>{0, -1}));
  EXPECT_EQ(model->small_float_initializers.at("B"), (std::vector<double>{0, 1, 2, 3}));
  ASSERT_EQ(model->inputs.size(), 1u);  // W is an initializer, not an input
  EXPECT_EQ(model->inputs[0].name, "x");
  ASSERT_EQ(model->inputs[0].shape.size(), 4u);
  EXPECT_EQ(model->inputs[0].shape[0].param, "batch");
  EXPECT_EQ(model->inputs[0].shape[0].value, -1);
  EXPECT_EQ(model->inputs[0].shape[1].value, 3);
  ASSERT_EQ(model->outputs.size(), 1u);
  ASSERT_EQ(model->nodes.size(), 3u);
  const OnnxNode& conv = model->nodes[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.inputs, (std::vector<std::string>{"x", "W", "B"}));
  ASSERT_NE(conv.FindAttribute("pads"), nullptr);
  EXPECT_EQ(conv.FindAttribute("pads")->ints, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(conv.FindAttribute("strides")->ints, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(conv.FindAttribute("group")->i, 1);
  EXPECT_EQ(conv.FindAttribute("missing"), nullptr);
}

TEST(OnnxParseTest, ConstantTensorAttribute) {
  ob::Graph g;
  g.inputs.push_back(ob::ValueInfo("x", ob::kFloat, {2}));
  g.nodes.push_back(
      ob::Node("Constant", {}, {"k"}, {ob::AttrTensor("value", ob::Int64Tensor("", {5}, true))}));
  g.nodes.push_back(
      ob::Node("Constant", {}, {"s"}, {ob::AttrTensor("value", ob::FloatTensor("", {1.f, 2.f}))}));
  g.outputs.push_back(ob::ValueInfo("k", ob::kInt64, {}));
  std::string bytes = ob::Model(g);
  MemoryByteReader reader(bytes);
  auto model = ParseOnnx(reader, ".");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const OnnxAttribute* a = model->nodes[0].FindAttribute("value");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->has_tensor);
  EXPECT_EQ(a->t_dtype, DType::kI64);
  EXPECT_TRUE(a->t_dims.empty());
  EXPECT_EQ(a->t_int64_data, (std::vector<int64_t>{5}));
  const OnnxAttribute* f = model->nodes[1].FindAttribute("value");
  EXPECT_EQ(f->t_float_data, (std::vector<double>{1, 2}));
}

TEST(OnnxParseTest, EveryPrefixFails) {
  std::string bytes = ob::Model(SmallGraph());
  for (size_t n = 0; n < bytes.size(); ++n) {
    MemoryByteReader reader(bytes.data(), n);
    auto model = ParseOnnx(reader, "/nonexistent");
    EXPECT_FALSE(model.ok()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(OnnxParseTest, RawDataLengthMismatch) {
  ob::Graph g = SmallGraph();
  ProtoBuilder bad = ob::TensorHeader("W", ob::kFloat, {4, 3, 3, 3});
  bad.Bytes(9, std::string(100, '\0'));  // needs 432 bytes
  g.initializers[0] = bad;
  std::string bytes = ob::Model(g);
  MemoryByteReader reader(bytes);
  auto model = ParseOnnx(reader, ".");
  EXPECT_EQ(model.status().code(), StatusCode::kCorruptData);
}

TEST(OnnxParseTest, TypedDataCountMismatch) {
  ob::Graph g = SmallGraph();
  ProtoBuilder bad = ob::TensorHeader("B", ob::kFloat, {5});
  bad.Bytes(4, std::string(16, '\0'));  // 4 floats for 5 elements
  g.initializers[1] = bad;
  std::string bytes = ob::Model(g);
  MemoryByteReader reader(bytes);
  EXPECT_EQ(ParseOnnx(reader, ".").status().code(), StatusCode::kCorruptData);
}

TEST(OnnxParseTest, AbsurdShapeRejected) {
  ob::Graph g = SmallGraph();
  g.initializers[0] = ob::TensorHeader("W", ob::kFloat, {int64_t{1} << 40, int64_t{1} << 40});
  std::string bytes = ob::Model(g);
  MemoryByteReader reader(bytes);
  EXPECT_EQ(ParseOnnx(reader, ".").status().code(), StatusCode::kCorruptData);
}

TEST(OnnxParseTest, DeepTypeNestingRejected) {
  // TypeProto.sequence_type(4) -> Sequence.elem_type(1) -> TypeProto ..., 40 levels.
  ProtoBuilder type;
  type.Message(1, ProtoBuilder().Varint(1, 1));
  for (int i = 0; i < 40; ++i) {
    ProtoBuilder seq;
    seq.Message(1, type);
    ProtoBuilder outer;
    outer.Message(4, seq);
    type = outer;
  }
  ob::Graph g = SmallGraph();
  ProtoBuilder vi;
  vi.Bytes(1, "deep").Message(2, type);
  g.outputs.push_back(vi);
  std::string bytes = ob::Model(g);
  MemoryByteReader reader(bytes);
  EXPECT_EQ(ParseOnnx(reader, ".").status().code(), StatusCode::kCorruptData);
}

TEST(OnnxParseTest, WrongWireTypeRejected) {
  ProtoBuilder m;
  m.Bytes(1, "not a varint");  // ir_version must be a varint
  m.Message(7, SmallGraph().Build());
  MemoryByteReader reader(m.bytes());
  EXPECT_EQ(ParseOnnx(reader, ".").status().code(), StatusCode::kCorruptData);
}

// External data: a temporary folder holding a model's weights file.
class OnnxExternalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mg_onnx_ext_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "sub");
    std::ofstream(dir_ / "sub" / "w.bin", std::ios::binary) << std::string(1000, 'x');
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<OnnxModel> Parse(const std::string& location, const std::string& offset,
                          const std::string& length) {
    ProtoBuilder t = ob::TensorHeader("W", ob::kFloat, {4, 3, 3, 3});  // 432 bytes
    t.Message(13, ProtoBuilder().Bytes(1, "location").Bytes(2, location));
    if (!offset.empty()) t.Message(13, ProtoBuilder().Bytes(1, "offset").Bytes(2, offset));
    if (!length.empty()) t.Message(13, ProtoBuilder().Bytes(1, "length").Bytes(2, length));
    t.Varint(14, 1);
    ob::Graph g = SmallGraph();
    g.initializers[0] = t;
    bytes_ = ob::Model(g);
    reader_ = std::make_unique<MemoryByteReader>(bytes_);
    return ParseOnnx(*reader_, dir_.string());
  }

  std::filesystem::path dir_;
  std::string bytes_;
  std::unique_ptr<MemoryByteReader> reader_;
};

TEST_F(OnnxExternalTest, Valid) {
  auto m = Parse("sub/w.bin", "512", "432");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->initializers[0].bytes, 432u);
  EXPECT_TRUE(Parse("sub/w.bin", "", "").ok());
}

TEST_F(OnnxExternalTest, RangePastEndOfFile) {
  EXPECT_EQ(Parse("sub/w.bin", "600", "").status().code(), StatusCode::kCorruptData);
  EXPECT_EQ(Parse("sub/w.bin", "18446744073709551615", "432").status().code(),
            StatusCode::kCorruptData);
}

TEST_F(OnnxExternalTest, LengthDisagreesWithShape) {
  EXPECT_EQ(Parse("sub/w.bin", "0", "400").status().code(), StatusCode::kCorruptData);
  EXPECT_EQ(Parse("sub/w.bin", "zero", "").status().code(), StatusCode::kCorruptData);
}

TEST_F(OnnxExternalTest, MissingFile) {
  EXPECT_EQ(Parse("sub/nothere.bin", "", "").status().code(), StatusCode::kNotFound);
}

TEST_F(OnnxExternalTest, PathTraversal) {
  std::ofstream(dir_.parent_path() / "mg_onnx_outside.bin") << std::string(1000, 'x');
  EXPECT_EQ(Parse("../mg_onnx_outside.bin", "", "").status().code(), StatusCode::kCorruptData);
  EXPECT_EQ(Parse("sub/../../mg_onnx_outside.bin", "", "").status().code(),
            StatusCode::kCorruptData);
  EXPECT_EQ(Parse((dir_ / "sub" / "w.bin").string(), "", "").status().code(),
            StatusCode::kCorruptData);
  EXPECT_EQ(Parse("", "", "").status().code(), StatusCode::kCorruptData);
  std::filesystem::remove(dir_.parent_path() / "mg_onnx_outside.bin");
}

// Totals computed with the onnx Python package from the same files.
struct FixtureTotals {
  const char* file;
  size_t count;
  uint64_t elements;
  uint64_t bytes;
};

TEST(OnnxFixtureTest, TorchvisionInitializers) {
  const FixtureTotals kTotals[] = {
      {"cv/resnet18.onnx", 26, 11680872, 46723488},
      {"cv/resnet18_external/model.onnx", 26, 11680872, 46723488},
      {"cv/resnet50.onnx", 61, 25507944, 102031776},
      {"cv/mobilenet_v3_large.onnx", 83, 5457176, 21828704},
      {"cv/vit_b_16.onnx", 80, 86495464, 345981856},
  };
  std::string dir = FixtureDir();
  if (!std::filesystem::exists(dir + "/cv/resnet18.onnx")) {
    GTEST_SKIP() << "*** ONNX FIXTURES MISSING: " << dir
                 << "/cv/*.onnx not found; set MODELGRID_FIXTURES ***";
  }
  for (const auto& f : kTotals) {
    std::string path = dir + "/" + f.file;
    if (!std::filesystem::exists(path)) {
      ADD_FAILURE() << "fixture missing: " << path;
      continue;
    }
    auto model = ParseOnnxFile(path);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    TensorTotals t = SumTensors(model->initializers);
    EXPECT_EQ(model->initializers.size(), f.count) << f.file;
    EXPECT_EQ(t.elements, f.elements) << f.file;
    EXPECT_EQ(t.bytes, f.bytes) << f.file;
    ASSERT_EQ(model->inputs.size(), 1u) << f.file;
    EXPECT_EQ(model->inputs[0].shape.size(), 4u);
    EXPECT_EQ(model->inputs[0].shape[0].value, -1);
    EXPECT_EQ(model->inputs[0].shape[1].value, 3);
    EXPECT_EQ(model->opsets.count(""), 1u);
  }
}

}  // namespace
}  // namespace modelgrid
