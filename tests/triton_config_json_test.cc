// Triton's JSON model configuration read back (load requests' "config" parameter).
#include <gtest/gtest.h>

#include "formats/triton_config_json.h"

namespace modelgrid {
namespace {

TEST(TritonConfigJson, ReadsWhatTheConfigEndpointWrites) {
  auto c = ParseTritonConfigJson(R"({
    "name": "m", "platform": "pytorch_libtorch", "backend": "pytorch",
    "version_policy": {"latest": {"num_versions": 1}}, "max_batch_size": 8,
    "input": [{"name": "INPUT__0", "data_type": "TYPE_FP32", "format": "FORMAT_NONE",
               "dims": [-1, 4], "is_shape_tensor": false, "allow_ragged_batch": false,
               "optional": false}],
    "output": [{"name": "OUTPUT__0", "data_type": "TYPE_FP32", "dims": [4],
                "label_filename": "labels.txt", "is_shape_tensor": false}],
    "batch_input": [], "batch_output": [],
    "instance_group": [{"name": "m", "kind": "KIND_GPU", "count": 2, "gpus": [0, 1],
                        "secondary_devices": [], "profile": [], "passive": false,
                        "host_policy": ""}],
    "default_model_filename": "model.pt",
    "dynamic_batching": {"preferred_batch_size": [4, 8], "max_queue_delay_microseconds": 100,
                         "preserve_ordering": false},
    "parameters": {"isolation": {"string_value": "process"}},
    "model_warmup": []})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "m");
  EXPECT_EQ(c->max_batch_size, 8);
  ASSERT_EQ(c->inputs.size(), 1u);
  EXPECT_EQ(c->inputs[0].data_type, "TYPE_FP32");
  EXPECT_EQ(c->inputs[0].dims, std::vector<int64_t>({-1, 4}));
  EXPECT_EQ(c->outputs[0].label_filename, "labels.txt");
  EXPECT_EQ(c->instances_per_device, 2);
  EXPECT_EQ(c->instance_gpus, 2);
  EXPECT_EQ(c->instance_kind, "KIND_GPU");
  EXPECT_TRUE(c->dynamic_batching);
  EXPECT_EQ(c->preferred_batch_sizes, std::vector<int64_t>({4, 8}));
  EXPECT_EQ(c->parameters.at("isolation"), "process");
  EXPECT_TRUE(c->ignored_fields.empty());
}

TEST(TritonConfigJson, RefusesWhatItWouldNotServe) {
  struct Case {
    const char* json;
    const char* names;
  };
  const Case cases[] = {
      {R"({"sequence_batching": {}})", "sequence_batching"},
      {R"({"input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [1], "optional": true}]})",
       "input.optional"},
      {R"({"dynamic_batching": {"preserve_ordering": true}})", "preserve_ordering"},
      {R"({"version_policy": {"all": {}}})", "version_policy"},
      {R"({"max_batch_size": -1})", "max_batch_size"},
      {R"({"max_batch_size": 1.5})", "max_batch_size"},
      {R"({"input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [-7]}]})", "dims"},
      {R"({"parameters": {"k": "v"}})", "string_value"},
      {R"([1, 2])", "JSON object"},
      {R"({"name": )", "JSON object"},
      {R"({"bad key": 1})", "bad key"},
      {R"({"model_transaction_policy": {"decoupled": "maybe"}})", "decoupled"},
      {R"({"model_transaction_policy": {"other": true}})", "model_transaction_policy.other"},
  };
  for (const Case& c : cases) {
    auto r = ParseTritonConfigJson(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_NE(r.status().message().find(c.names), std::string::npos)
        << c.json << " -> " << r.status().message();
  }
}

TEST(TritonConfigJson, AcceptsAPythonModelsConfigBack) {
  auto c = ParseTritonConfigJson(R"({"name": "p", "platform": "", "backend": "python",
    "default_model_filename": "model.py", "model_transaction_policy": {"decoupled": false},
    "input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->backend, "python");
  ASSERT_EQ(c->inputs.size(), 1u);
  EXPECT_EQ(c->inputs[0].data_type, "TYPE_STRING");
  EXPECT_FALSE(c->decoupled);
  auto decoupled = ParseTritonConfigJson(
      R"({"backend": "python", "model_transaction_policy": {"decoupled": true}})");
  ASSERT_TRUE(decoupled.ok()) << decoupled.status().ToString();
  EXPECT_TRUE(decoupled->decoupled);
}

}  // namespace
}  // namespace modelgrid
