// ONNX shape inference and activation liveness: operator rules, hand-built graphs with
// hand-computed peaks, and the torchvision fixtures against PyTorch's measured peaks.
#include "estimate/onnx_activations.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "estimate/onnx_shapes.h"
#include "support/protobuf_builder.h"

namespace modelgrid {
namespace {

namespace ob = testing::onnx_build;
using Shape = std::vector<int64_t>;

OnnxValue V(Shape shape, DType t = DType::kF32) {
  OnnxValue v;
  v.dtype = t;
  v.shape = std::move(shape);
  v.shape_known = true;
  return v;
}
OnnxValue IV(std::vector<int64_t> values, bool scalar = false) {
  OnnxValue v = V(scalar ? Shape{} : Shape{int64_t(values.size())}, DType::kI64);
  v.values = std::move(values);
  v.values_known = true;
  return v;
}
OnnxValue FV(std::vector<double> values) {
  OnnxValue v = V(Shape{int64_t(values.size())});
  v.fvalues = std::move(values);
  v.fvalues_known = true;
  return v;
}
OnnxAttribute Ints(const std::string& name, std::vector<int64_t> v) {
  OnnxAttribute a;
  a.name = name;
  a.ints = std::move(v);
  return a;
}
OnnxAttribute Int(const std::string& name, int64_t v) {
  OnnxAttribute a;
  a.name = name;
  a.i = v;
  return a;
}
OnnxAttribute Str(const std::string& name, const std::string& s) {
  OnnxAttribute a;
  a.name = name;
  a.s = s;
  return a;
}

// Runs one node; returns every output (inputs given as values, null when omitted).
std::vector<OnnxValue> RunNode(const std::string& op, const std::vector<const OnnxValue*>& inputs,
                               std::vector<OnnxAttribute> attrs = {}, size_t n_outputs = 1,
                               std::vector<std::string>* notes = nullptr) {
  OnnxNode node;
  node.op_type = op;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i] ? "in" + std::to_string(i) : "");
  }
  for (size_t i = 0; i < n_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  node.attributes = std::move(attrs);
  std::vector<OnnxValue> outputs;
  std::vector<std::string> local;
  Status st = InferOnnxNode(node, inputs, &outputs, notes ? notes : &local);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return outputs;
}
Shape Out(const std::string& op, const std::vector<const OnnxValue*>& inputs,
          std::vector<OnnxAttribute> attrs = {}) {
  auto outs = RunNode(op, inputs, std::move(attrs));
  if (outs.empty() || !outs[0].shape_known) return {-999};
  return outs[0].shape;
}

TEST(OnnxShapesTest, ConvAndPooling) {
  OnnxValue x = V({2, 3, 224, 224}), w = V({64, 3, 7, 7});
  EXPECT_EQ(Out("Conv", {&x, &w}, {Ints("pads", {3, 3, 3, 3}), Ints("strides", {2, 2})}),
            (Shape{2, 64, 112, 112}));
  EXPECT_EQ(Out("Conv", {&x, &w}, {Str("auto_pad", "SAME_UPPER"), Ints("strides", {2, 2})}),
            (Shape{2, 64, 112, 112}));
  EXPECT_EQ(Out("Conv", {&x, &w}, {Str("auto_pad", "VALID")}), (Shape{2, 64, 218, 218}));
  OnnxValue wd = V({8, 3, 3, 3});
  EXPECT_EQ(Out("Conv", {&x, &wd}, {Ints("dilations", {2, 2})}), (Shape{2, 8, 220, 220}));
  OnnxValue dw_in = V({1, 32, 10, 10}), dw = V({32, 1, 3, 3});
  EXPECT_EQ(Out("Conv", {&dw_in, &dw}, {Int("group", 32), Ints("pads", {1, 1, 1, 1})}),
            (Shape{1, 32, 10, 10}));
  OnnxValue t_in = V({1, 16, 8, 8}), tw = V({16, 4, 4, 4});
  EXPECT_EQ(Out("ConvTranspose", {&t_in, &tw},
                {Ints("strides", {2, 2}), Ints("pads", {1, 1, 1, 1}), Int("group", 2)}),
            (Shape{1, 8, 16, 16}));
  OnnxValue p = V({1, 64, 112, 112});
  EXPECT_EQ(
      Out("MaxPool", {&p},
          {Ints("kernel_shape", {3, 3}), Ints("strides", {2, 2}), Ints("pads", {1, 1, 1, 1})}),
      (Shape{1, 64, 56, 56}));
  OnnxValue q = V({1, 8, 7, 7});
  EXPECT_EQ(Out("MaxPool", {&q},
                {Ints("kernel_shape", {2, 2}), Ints("strides", {2, 2}), Int("ceil_mode", 1)}),
            (Shape{1, 8, 4, 4}));
  EXPECT_EQ(Out("AveragePool", {&q}, {Ints("kernel_shape", {2, 2}), Ints("strides", {2, 2})}),
            (Shape{1, 8, 3, 3}));
  EXPECT_EQ(Out("GlobalAveragePool", {&q}), (Shape{1, 8, 1, 1}));
  EXPECT_EQ(Out("BatchNormalization", {&q}), (Shape{1, 8, 7, 7}));
  // Missing weight shape: unknown, not a crash.
  EXPECT_EQ(Out("Conv", {&x, nullptr}), (Shape{-999}));
}

TEST(OnnxShapesTest, MatrixProducts) {
  OnnxValue a = V({4, 8}), b = V({16, 8}), at = V({8, 4});
  EXPECT_EQ(Out("Gemm", {&a, &b}, {Int("transB", 1)}), (Shape{4, 16}));
  EXPECT_EQ(Out("Gemm", {&at, &b}, {Int("transA", 1), Int("transB", 1)}), (Shape{4, 16}));
  OnnxValue x = V({2, 1, 5, 8}), y = V({3, 8, 6}), v = V({8});
  EXPECT_EQ(Out("MatMul", {&x, &y}), (Shape{2, 3, 5, 6}));
  EXPECT_EQ(Out("MatMul", {&x, &v}), (Shape{2, 1, 5}));
  EXPECT_EQ(Out("MatMul", {&v, &y}), (Shape{3, 6}));
}

TEST(OnnxShapesTest, ElementwiseBroadcast) {
  OnnxValue a = V({8, 1, 6, 1}), b = V({7, 1, 5}), c = V({3});
  EXPECT_EQ(Out("Add", {&a, &b}), (Shape{8, 7, 6, 5}));
  EXPECT_EQ(Out("Add", {&a, &c}), (Shape{8, 1, 6, 3}));
  auto eq = RunNode("Equal", {&a, &b});
  EXPECT_EQ(eq[0].dtype, DType::kBool);
  OnnxValue cond = V({1, 6, 1}, DType::kBool);
  EXPECT_EQ(Out("Where", {&cond, &a, &b}), (Shape{8, 7, 6, 5}));
  OnnxValue bad = V({4});
  EXPECT_EQ(Out("Add", {&c, &bad}), (Shape{-999}));
  EXPECT_EQ(Out("HardSwish", {&a}), (Shape{8, 1, 6, 1}));
  EXPECT_EQ(Out("Softmax", {&a}), (Shape{8, 1, 6, 1}));
  auto cast = RunNode("Cast", {&a}, {Int("to", 10)});
  EXPECT_EQ(cast[0].dtype, DType::kF16);
}

TEST(OnnxShapesTest, ShapeManipulation) {
  OnnxValue x = V({2, 3, 4, 5});
  OnnxValue target = IV({0, -1, 5});
  EXPECT_EQ(Out("Reshape", {&x, &target}), (Shape{2, 12, 5}));
  EXPECT_EQ(Out("Flatten", {&x}), (Shape{2, 60}));
  EXPECT_EQ(Out("Flatten", {&x}, {Int("axis", -2)}), (Shape{6, 20}));
  OnnxValue axes = IV({1, -1});
  OnnxValue y = V({2, 1, 4, 1});
  EXPECT_EQ(Out("Squeeze", {&y, &axes}), (Shape{2, 4}));
  EXPECT_EQ(Out("Squeeze", {&y}), (Shape{2, 4}));
  EXPECT_EQ(Out("Unsqueeze", {&x, &axes}), (Shape{2, 1, 3, 4, 5, 1}));
  EXPECT_EQ(Out("Unsqueeze", {&x}, {Ints("axes", {0})}), (Shape{1, 2, 3, 4, 5}));
  EXPECT_EQ(Out("Transpose", {&x}, {Ints("perm", {0, 2, 3, 1})}), (Shape{2, 4, 5, 3}));
  EXPECT_EQ(Out("Transpose", {&x}), (Shape{5, 4, 3, 2}));
  OnnxValue z = V({2, 7, 4, 5});
  EXPECT_EQ(Out("Concat", {&x, &z}, {Int("axis", 1)}), (Shape{2, 10, 4, 5}));
  auto split = RunNode("Split", {&z}, {Int("axis", 1), Ints("split", {3, 4})}, 2);
  EXPECT_EQ(split[0].shape, (Shape{2, 3, 4, 5}));
  EXPECT_EQ(split[1].shape, (Shape{2, 4, 4, 5}));
  auto even = RunNode("Split", {&x}, {Int("axis", 2)}, 2);
  EXPECT_EQ(even[1].shape, (Shape{2, 3, 2, 5}));
  OnnxValue starts = IV({1, 0}), ends = IV({INT64_MAX, -1}), sl_axes = IV({1, 3}),
            steps = IV({1, 2});
  EXPECT_EQ(Out("Slice", {&x, &starts, &ends, &sl_axes, &steps}), (Shape{2, 2, 4, 2}));
  OnnxValue rstart = IV({-1}), rend = IV({INT64_MIN}), raxes = IV({2}), rstep = IV({-1});
  EXPECT_EQ(Out("Slice", {&x, &rstart, &rend, &raxes, &rstep}), (Shape{2, 3, 4, 5}));
  OnnxValue idx = V({7, 9}, DType::kI64);
  EXPECT_EQ(Out("Gather", {&x, &idx}, {Int("axis", 1)}), (Shape{2, 7, 9, 4, 5}));
  OnnxValue pads = IV({0, 0, 1, 1, 0, 0, 1, 1});
  EXPECT_EQ(Out("Pad", {&x, &pads}), (Shape{2, 3, 6, 7}));
  OnnxValue reps = IV({1, 2, 1, 3});
  EXPECT_EQ(Out("Tile", {&x, &reps}), (Shape{2, 6, 4, 15}));
  OnnxValue expand_to = IV({6, 1, 1, 1, 1});
  EXPECT_EQ(Out("Expand", {&x, &expand_to}), (Shape{6, 2, 3, 4, 5}));
  OnnxValue scales = FV({1, 1, 2, 2});
  EXPECT_EQ(Out("Resize", {&x, nullptr, &scales}), (Shape{2, 3, 8, 10}));
  EXPECT_EQ(Out("ReduceMean", {&x}, {Ints("axes", {-1})}), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(Out("ReduceSum", {&x, &sl_axes}, {Int("keepdims", 0)}), (Shape{2, 4}));
  auto ln = RunNode("LayerNormalization", {&x}, {Int("axis", -1)}, 3);
  EXPECT_EQ(ln[0].shape, x.shape);
  EXPECT_EQ(ln[1].shape, (Shape{2, 3, 4, 1}));
  OnnxValue start = IV({0}, true), limit = IV({10}, true), delta = IV({3}, true);
  auto range = RunNode("Range", {&start, &limit, &delta});
  EXPECT_EQ(range[0].shape, (Shape{4}));
  EXPECT_EQ(range[0].values, (std::vector<int64_t>{0, 3, 6, 9}));
}

TEST(OnnxShapesTest, ShapeValuesPropagate) {
  OnnxValue x = V({8, 197, 768});
  auto shape = RunNode("Shape", {&x});
  ASSERT_TRUE(shape[0].values_known);
  EXPECT_EQ(shape[0].values, (std::vector<int64_t>{8, 197, 768}));
  OnnxValue i0 = IV({0}, true);
  auto g = RunNode("Gather", {&shape[0], &i0});
  EXPECT_EQ(g[0].shape, Shape{});
  EXPECT_EQ(g[0].values, (std::vector<int64_t>{8}));
  OnnxValue twelve = IV({12}, true);
  auto mul = RunNode("Mul", {&g[0], &twelve});
  EXPECT_EQ(mul[0].values, (std::vector<int64_t>{96}));
  OnnxValue ax = IV({0});
  auto u = RunNode("Unsqueeze", {&mul[0], &ax});
  EXPECT_EQ(u[0].shape, (Shape{1}));
  OnnxValue rest = IV({-1, 64});
  auto cat = RunNode("Concat", {&u[0], &rest}, {Int("axis", 0)});
  EXPECT_EQ(cat[0].values, (std::vector<int64_t>{96, -1, 64}));
  EXPECT_EQ(Out("Reshape", {&x, &cat[0]}), (Shape{96, 197, 64}));
  auto cos = RunNode("ConstantOfShape", {&shape[0]});
  EXPECT_EQ(cos[0].shape, (Shape{8, 197, 768}));
  EXPECT_FALSE(cos[0].values_known);  // too large to track
  auto cast = RunNode("Cast", {&mul[0]}, {Int("to", 7)});
  EXPECT_EQ(cast[0].values, (std::vector<int64_t>{96}));
}

TEST(OnnxShapesTest, UnknownOpsAndAbsurdShapes) {
  OnnxValue x = V({2, 3});
  std::vector<std::string> notes;
  auto out = RunNode("MyCustomOp", {&x}, {}, 1, &notes);
  EXPECT_EQ(out[0].shape, (Shape{2, 3}));
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("MyCustomOp"), std::string::npos);

  OnnxNode node;
  node.op_type = "Expand";
  node.inputs = {"x", "s"};
  node.outputs = {"y"};
  OnnxValue big = IV({int64_t{1} << 40, int64_t{1} << 40});
  OnnxValue one = V({1, 1});
  std::vector<OnnxValue> outs;
  Status st = InferOnnxNode(node, {&one, &big}, &outs, &notes);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);  // 2^80 elements
  OnnxValue huge = IV({int64_t{1} << 62, 1});
  node.op_type = "Tile";
  EXPECT_FALSE(InferOnnxNode(node, {&one, &huge}, &outs, &notes).ok());
  node.op_type = "Reshape";
  OnnxValue neg = IV({-5, 6});
  EXPECT_TRUE(InferOnnxNode(node, {&x, &neg}, &outs, &notes).ok());
  EXPECT_FALSE(outs[0].shape_known);
  OnnxValue w = V({4, 3, 3, 3}), tiny = V({1, 3, 2, 2});
  node.op_type = "Conv";
  EXPECT_TRUE(InferOnnxNode(node, {&tiny, &w}, &outs, &notes).ok());
  EXPECT_FALSE(outs[0].shape_known);  // kernel larger than input
}

// x[batch,3,32,32] -> Conv(16,k3,s2,p1) -> Relu -> MaxPool(2) -> GAP -> Flatten -> Gemm(10).
std::string TinyCnn() {
  ob::Graph g;
  g.initializers.push_back(ob::RawTensor("W", ob::kFloat, {16, 3, 3, 3}));
  g.initializers.push_back(ob::RawTensor("FC", ob::kFloat, {10, 16}));
  g.inputs.push_back(ob::ValueInfo("x", ob::kFloat, {"N", 3, 32, 32}));
  g.nodes.push_back(
      ob::Node("Conv", {"x", "W"}, {"c"},
               {ob::AttrInts("pads", {1, 1, 1, 1}), ob::AttrInts("strides", {2, 2})}));
  g.nodes.push_back(ob::Node("Relu", {"c"}, {"r"}));
  g.nodes.push_back(
      ob::Node("MaxPool", {"r"}, {"p"},
               {ob::AttrInts("kernel_shape", {2, 2}), ob::AttrInts("strides", {2, 2})}));
  g.nodes.push_back(ob::Node("GlobalAveragePool", {"p"}, {"gap"}));
  g.nodes.push_back(ob::Node("Flatten", {"gap"}, {"flat"}));
  g.nodes.push_back(ob::Node("Gemm", {"flat", "FC"}, {"y"}, {ob::AttrInt("transB", 1)}));
  g.outputs.push_back(ob::ValueInfo("y", ob::kFloat, {"N", 10}));
  return ob::Model(g);
}

OnnxModel ParseBytes(const std::string& bytes) {
  MemoryByteReader reader(bytes);
  auto model = ParseOnnx(reader, "/nonexistent");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : OnnxModel{};
}

TEST(OnnxActivationsTest, TinyCnnPeakByHand) {
  OnnxModel model = ParseBytes(TinyCnn());
  OnnxTraceOptions options;
  options.batch = 2;
  auto r = BuildOnnxActivationTrace(model, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // input 24576; conv out [2,16,16,16] 32768 (input freed after); relu 32768 -> peak 65536.
  EXPECT_EQ(r->peak_live_bytes, 65536u);
  EXPECT_EQ(r->peak_live_bytes, r->trace.PeakLiveBytes());
  EXPECT_EQ(r->conv_count, 1u);
  EXPECT_EQ(r->matmul_count, 1u);
  EXPECT_EQ(r->largest_conv_output_bytes, 32768u);
  EXPECT_EQ(r->trace.LiveBytesAtEnd(), 2u * 10 * 4);  // only the graph output is left
  // Flatten is a view: 6 allocations (input + 5 real outputs), no more.
  size_t allocs = 0;
  for (const auto& e : r->trace.events()) allocs += e.kind == AllocEvent::Kind::kAlloc;
  EXPECT_EQ(allocs, 6u);

  options.activation_bytes = 2;
  auto half = BuildOnnxActivationTrace(model, options);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->peak_live_bytes, 32768u);
}

TEST(OnnxActivationsTest, ViewsExtendLifetime) {
  // x -> Relu a -> Reshape v (view of a) -> Relu b; Add(b, v) keeps a alive through b.
  ob::Graph g;
  g.initializers.push_back(ob::Int64Tensor("s", {-1}));
  g.inputs.push_back(ob::ValueInfo("x", ob::kFloat, {"N", 256}));
  g.nodes.push_back(ob::Node("Relu", {"x"}, {"a"}));
  g.nodes.push_back(ob::Node("Reshape", {"a", "s"}, {"v"}));
  g.nodes.push_back(ob::Node("Relu", {"v"}, {"b"}));
  g.nodes.push_back(ob::Node("Add", {"b", "v"}, {"y"}));
  g.outputs.push_back(ob::ValueInfo("y", ob::kFloat, {"N"}));
  OnnxModel model = ParseBytes(ob::Model(g));
  auto r = BuildOnnxActivationTrace(model, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // At Add: a (through v), b and y live: 3 * 1024 bytes. x died after the first Relu.
  EXPECT_EQ(r->peak_live_bytes, 3u * 1024);
}

TEST(OnnxActivationsTest, GraphOutputViewIsPinned) {
  ob::Graph g;
  g.inputs.push_back(ob::ValueInfo("x", ob::kFloat, {"N", 4}));
  g.nodes.push_back(ob::Node("Relu", {"x"}, {"a"}));
  g.nodes.push_back(ob::Node("Identity", {"a"}, {"y"}));
  g.nodes.push_back(ob::Node("Sigmoid", {"a"}, {"z"}));
  g.outputs.push_back(ob::ValueInfo("y", ob::kFloat, {"N", 4}));
  g.outputs.push_back(ob::ValueInfo("z", ob::kFloat, {"N", 4}));
  auto r = BuildOnnxActivationTrace(ParseBytes(ob::Model(g)), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->trace.LiveBytesAtEnd(), 2u * 16);
}

TEST(OnnxActivationsTest, BatchSequenceAndOverrides) {
  ob::Graph g;
  g.inputs.push_back(ob::ValueInfo("ids", ob::kInt64, {"batch", "seq"}));
  g.inputs.push_back(ob::ValueInfo("mask", ob::kInt64, {"batch", "seq"}));
  g.nodes.push_back(ob::Node("Add", {"ids", "mask"}, {"y"}));
  g.outputs.push_back(ob::ValueInfo("y", ob::kInt64, {"batch", "seq"}));
  OnnxModel model = ParseBytes(ob::Model(g));
  OnnxTraceOptions options;
  options.batch = 4;
  options.sequence = 10;
  auto r = BuildOnnxActivationTrace(model, options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->peak_live_bytes, 3u * 4 * 10 * 8);  // int64 keeps 8 bytes
  options.input_shapes = {{7}, {7}};
  r = BuildOnnxActivationTrace(model, options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->peak_live_bytes, 3u * 4 * 7 * 8);

  ob::Graph no_shape;
  testing::ProtoBuilder vi;
  vi.Bytes(1, "x");
  no_shape.inputs.push_back(vi);
  no_shape.nodes.push_back(ob::Node("Relu", {"x"}, {"y"}));
  auto bad = BuildOnnxActivationTrace(ParseBytes(ob::Model(no_shape)), {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(OnnxActivationsTest, ShapeChainReshapeInGraph) {
  // Reshape target built by Shape -> Gather -> Unsqueeze -> Concat, as torch exports it.
  ob::Graph g;
  g.inputs.push_back(ob::ValueInfo("x", ob::kFloat, {"batch", 4, 6}));
  g.nodes.push_back(ob::Node("Shape", {"x"}, {"s"}));
  g.nodes.push_back(ob::Node("Constant", {}, {"zero"},
                             {ob::AttrTensor("value", ob::Int64Tensor("", {0}, true))}));
  g.nodes.push_back(ob::Node("Gather", {"s", "zero"}, {"b"}, {ob::AttrInt("axis", 0)}));
  g.nodes.push_back(ob::Node("Unsqueeze", {"b"}, {"b1"}, {ob::AttrInts("axes", {0})}));
  g.nodes.push_back(
      ob::Node("Constant", {}, {"rest"}, {ob::AttrTensor("value", ob::Int64Tensor("", {-1}))}));
  g.nodes.push_back(ob::Node("Concat", {"b1", "rest"}, {"target"}, {ob::AttrInt("axis", 0)}));
  g.nodes.push_back(ob::Node("Reshape", {"x", "target"}, {"flat"}));
  g.nodes.push_back(ob::Node("Relu", {"flat"}, {"y"}));
  g.outputs.push_back(ob::ValueInfo("y", ob::kFloat, {"batch", 24}));
  OnnxTraceOptions options;
  options.batch = 3;
  auto r = BuildOnnxActivationTrace(ParseBytes(ob::Model(g, 11)), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& a : r->assumptions) ADD_FAILURE() << "unexpected assumption: " << a;
  EXPECT_EQ(r->trace.LiveBytesAtEnd(), 3u * 24 * 4);
}

// PyTorch's measured peak activation bytes over loaded weights (fp32), from the brief.
struct Measured {
  const char* name;
  double mb[3];  // batch 1, 8, 32
};

TEST(OnnxActivationsFixtureTest, TorchvisionPeaksVsPyTorch) {
  const Measured kMeasured[] = {
      {"resnet18", {10.2, 57.1, 224.8}},
      {"resnet50", {12.3, 89.9, 334.0}},
      {"mobilenet_v3_large", {7.2, 57.8, 231.0}},
      {"vit_b_16", {7.9, 63.1, 252.0}},
  };
  const int64_t kBatches[] = {1, 8, 32};
  const char* env = std::getenv("MODELGRID_FIXTURES");
  std::string dir = env != nullptr ? env : MODELGRID_SOURCE_DIR "/.fixtures";
  if (!std::filesystem::exists(dir + "/cv/resnet18.onnx")) {
    GTEST_SKIP() << "*** ONNX FIXTURES MISSING: " << dir
                 << "/cv/*.onnx not found; set MODELGRID_FIXTURES ***";
  }
  std::printf("%-20s %5s %12s %12s %7s %5s %6s\n", "model", "batch", "ours MB", "torch MB", "ratio",
              "convs", "matmul");
  for (const auto& m : kMeasured) {
    auto model = ParseOnnxFile(dir + "/cv/" + m.name + ".onnx");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    for (int b = 0; b < 3; ++b) {
      OnnxTraceOptions options;
      options.batch = kBatches[b];
      auto r = BuildOnnxActivationTrace(*model, options);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      double ours = r->peak_live_bytes / 1e6;
      double ratio = ours / m.mb[b];
      std::printf("%-20s %5lld %12.2f %12.1f %7.2f %5llu %6llu\n", m.name,
                  static_cast<long long>(kBatches[b]), ours, m.mb[b], ratio,
                  static_cast<unsigned long long>(r->conv_count),
                  static_cast<unsigned long long>(r->matmul_count));
      EXPECT_GT(ratio, 0.6) << m.name << " batch " << kBatches[b];
      EXPECT_LT(ratio, 1.6) << m.name << " batch " << kBatches[b];
      if (b == 0) {
        for (const auto& a : r->assumptions) std::printf("  %s: %s\n", m.name, a.c_str());
      }
    }
  }
}

}  // namespace
}  // namespace modelgrid
