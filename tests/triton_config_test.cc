#include "formats/triton_config.h"

#include <gtest/gtest.h>

#include <string>

namespace modelgrid {
namespace {

constexpr char kRealistic[] = R"pb(
  # BERT served by the PyTorch backend.
  name: "bert_base"  # trailing comment
  platform: "pytorch_libtorch"
  backend: "pytorch"
  max_batch_size: 32
  version_policy: { latest { num_versions: 2 } } input
  [ {
    name: "INPUT__0"
    data_type: TYPE_INT64
    dims: [ -1 ]
    allow_ragged_batch: false
  }
    , {
      name: "INPUT__1"
      data_type: TYPE_INT64
      format: FORMAT_NONE
      dims: [ -1 ]
      reshape: { shape: [ 1, -1 ] }
    }] output
  [ {
    name: "OUTPUT__0"
    data_type: TYPE_FP32
    dims: [ -1, 768 ]
  }] instance_group
  [ {
    count: 2,
    kind: KIND_GPU,
    gpus: [ 0, 1 ]
  }
    , { kind: KIND_GPU }]
  dynamic_batching {
    preferred_batch_size: [ 4, 8 ]
    preferred_batch_size: 16
    max_queue_delay_microseconds: 100
    default_queue_policy { timeout_action: REJECT }
  }
  parameters: {
    key: "INFERENCE_MODE"
    value: { string_value: "true" }
  }
  parameters {
    key: "path\twith \"escapes\""
    value { string_value: 'single \x41\101' }
  }
  optimization {
    execution_accelerators {
      gpu_execution_accelerator:
      [ { name: "tensorrt" }]
    }
  } model_warmup
  []
)pb";

TEST(TritonConfigTest, ParsesARealisticConfig) {
  auto c = ParseTritonConfig(kRealistic);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "bert_base");
  EXPECT_EQ(c->platform, "pytorch_libtorch");
  EXPECT_EQ(c->backend, "pytorch");
  EXPECT_EQ(c->max_batch_size, 32);
  ASSERT_EQ(c->inputs.size(), 2u);
  EXPECT_EQ(c->inputs[0].name, "INPUT__0");
  EXPECT_EQ(c->inputs[0].data_type, "TYPE_INT64");
  EXPECT_EQ(c->inputs[0].dims, (std::vector<int64_t>{-1}));
  EXPECT_EQ(c->inputs[1].dims, (std::vector<int64_t>{-1}));  // reshape ignored
  ASSERT_EQ(c->outputs.size(), 1u);
  EXPECT_EQ(c->outputs[0].data_type, "TYPE_FP32");
  EXPECT_EQ(c->outputs[0].dims, (std::vector<int64_t>{-1, 768}));
  EXPECT_EQ(c->instances_per_device, 2 + 1);  // each group's count, on every device
  EXPECT_EQ(c->instance_gpus, 2);             // the most GPUs a group lists
  EXPECT_EQ(c->instance_kind, "KIND_GPU");
  EXPECT_TRUE(c->dynamic_batching);
  EXPECT_EQ(c->preferred_batch_sizes, (std::vector<int64_t>{4, 8, 16}));
  EXPECT_EQ(c->max_queue_delay_microseconds, 100);
  ASSERT_EQ(c->parameters.size(), 2u);
  EXPECT_EQ(c->parameters.at("INFERENCE_MODE"), "true");
  EXPECT_EQ(c->parameters.at("path\twith \"escapes\""), "single AA");
  EXPECT_EQ(c->ignored_fields,
            (std::vector<std::string>{"version_policy", "optimization", "model_warmup"}));
}

TEST(TritonConfigTest, DefaultsAndAlternativeSyntax) {
  auto empty = ParseTritonConfig("  # nothing but a comment\n");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->max_batch_size, 0);
  EXPECT_EQ(empty->instances_per_device, 1);
  EXPECT_EQ(empty->instance_gpus, 0);
  EXPECT_FALSE(empty->dynamic_batching);

  // Repeated blocks instead of lists, `dims` as repeated scalars, <> blocks, separators,
  // adjacent strings concatenated, an empty dynamic_batching block.
  auto c = ParseTritonConfig(
      "name: 'a' \"b\"; max_batch_size: 0\n"
      "input { name: \"x\" data_type: TYPE_FP16 dims: 3 dims: 224 dims: 224 }\n"
      "input < name: \"y\", data_type: TYPE_FP16, dims: [] >\n"
      "instance_group { count: 3 kind: KIND_CPU }\n"
      "dynamic_batching { }\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "ab");
  ASSERT_EQ(c->inputs.size(), 2u);
  EXPECT_EQ(c->inputs[0].dims, (std::vector<int64_t>{3, 224, 224}));
  EXPECT_TRUE(c->inputs[1].dims.empty());
  EXPECT_EQ(c->instances_per_device, 3);
  EXPECT_EQ(c->instance_kind, "KIND_CPU");
  EXPECT_TRUE(c->dynamic_batching);
  EXPECT_TRUE(c->ignored_fields.empty());
}

// Expects an kInvalidArgument error whose message contains `needle`.
void ExpectError(std::string_view text, const std::string& needle) {
  auto c = ParseTritonConfig(text);
  ASSERT_FALSE(c.ok()) << "parsed: " << text;
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
}

TEST(TritonConfigTest, RejectsMalformedInput) {
  ExpectError("name: \"abc\nplatform: \"x\"", "line 1: unterminated string");
  ExpectError("name: \"abc\\", "unterminated string");
  ExpectError("input {\n  name: \"x\"\n", "line 3: missing '}' for the block at line 1");
  ExpectError("input { name: \"x\" } }", "expected a field name");
  ExpectError("\n\nmax_batch_size: -1", "line 3: field 'max_batch_size' must not be negative");
  ExpectError("max_batch_size: 99999999999999999999", "expects an integer");
  ExpectError("max_batch_size: \"8\"", "expects an integer");
  ExpectError("max_batch_size 8", "expected ':'");
  ExpectError("name: TYPE_FP32", "expects a quoted string");
  ExpectError("input { data_type: \"TYPE_FP32\" }", "expects an enum name");
  ExpectError("input { dims: [ 1, -2 ] }", "dims of");
  ExpectError("input { dims: [ 1 2 ] }", "expected ',' or ']'");
  ExpectError("input { dims: [ [1] ] }", "lists cannot nest");
  ExpectError("input: 3", "expects a { } block");
  ExpectError("name: @", "unexpected character '@'");
  ExpectError("name: \"\\q\"", "unknown escape");
  ExpectError("parameters { value { string_value: \"v\" } }", "without a key");
  ExpectError("name:", "expected a value, found end of input");
  ExpectError("dynamic_batching { max_queue_delay_microseconds: -5 }", "is negative");
  ExpectError("model_transaction_policy { decoupled: maybe }", "expects true or false");
  ExpectError("instance_group { kind: KIND_CPU host_policy: \"numa_0\" }",
              "field 'host_policy' \"numa_0\" is not supported: ModelGrid binds the workers of a "
              "device, with modelgrid serve --host-policy");
  EXPECT_TRUE(ParseTritonConfig("instance_group { host_policy: \"\" }").ok());
}

TEST(TritonConfigTest, ReadsTheTransactionPolicy) {
  auto on = ParseTritonConfig("backend: \"python\"\nmodel_transaction_policy { decoupled: true }");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->decoupled);
  EXPECT_TRUE(on->ignored_fields.empty());
  auto off = ParseTritonConfig("model_transaction_policy { decoupled: false }");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->decoupled);
}

TEST(TritonConfigTest, DeepNestingFailsCleanly) {
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "a { ";
  for (int i = 0; i < 10000; ++i) deep += "} ";
  ExpectError(deep, "nesting deeper than 64");

  std::string lists;
  for (int i = 0; i < 10000; ++i) lists += "a: [ { ";
  ExpectError(lists, "nesting deeper than 64");

  std::string ok;
  for (int i = 0; i < 60; ++i) ok += "a { ";
  for (int i = 0; i < 60; ++i) ok += "} ";
  auto c = ParseTritonConfig(ok);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->ignored_fields, (std::vector<std::string>{"a"}));
}

TEST(TritonConfigTest, RejectsInputsOverOneMebibyte) {
  std::string big(size_t{1} << 20, ' ');
  big += "name: \"x\"";
  ExpectError(big, "1 MiB");
}

}  // namespace
}  // namespace modelgrid
