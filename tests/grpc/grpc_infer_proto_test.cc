// The gRPC front end's pure parts: ModelInferRequest -> InferRequest (raw, typed and
// shared-memory inputs, parameters), InferResponse -> ModelInferResponse, and the mapping of
// core statuses to gRPC codes.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "grpc/grpc_status.h"
#include "grpc/infer_proto.h"

namespace modelgrid::rpc {
namespace {

using inference::ModelInferRequest;

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

ModelInferRequest::InferInputTensor* AddInput(ModelInferRequest& r, const std::string& name,
                                              const std::string& datatype,
                                              std::initializer_list<int64_t> shape) {
  auto* t = r.add_inputs();
  t->set_name(name);
  t->set_datatype(datatype);
  for (int64_t d : shape) t->add_shape(d);
  return t;
}

TEST(GrpcInferProto, TakesRawInputsInOrderWithoutCopying) {
  ModelInferRequest r;
  r.set_model_name("m");
  r.set_model_version("2");
  r.set_id("req-1");
  AddInput(r, "A", "FP32", {1, 2});
  AddInput(r, "B", "INT64", {1});
  r.add_raw_input_contents(Bytes<float>({1.5f, 2.5f}));
  r.add_raw_input_contents(Bytes<int64_t>({7}));
  auto req = RequestFromProto(r);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->model, "m");
  EXPECT_EQ(req->version, "2");
  EXPECT_EQ(req->id, "req-1");
  ASSERT_EQ(req->inputs.size(), 2u);
  EXPECT_EQ(req->inputs[0].data, Bytes<float>({1.5f, 2.5f}));
  EXPECT_EQ(req->inputs[1].data, Bytes<int64_t>({7}));
  EXPECT_TRUE(r.raw_input_contents(0).empty()) << "the bytes were copied, not moved";
}

TEST(GrpcInferProto, TypedContentsBecomeLittleEndianElements) {
  ModelInferRequest r;
  auto* i8 = AddInput(r, "i8", "INT8", {3})->mutable_contents();
  for (int v : {-1, 0, 127}) i8->add_int_contents(v);
  auto* u16 = AddInput(r, "u16", "UINT16", {2})->mutable_contents();
  for (unsigned v : {1u, 65535u}) u16->add_uint_contents(v);
  auto* b = AddInput(r, "b", "BOOL", {2})->mutable_contents();
  for (bool v : {true, false}) b->add_bool_contents(v);
  AddInput(r, "d", "FP64", {1})->mutable_contents()->add_fp64_contents(0.25);
  auto* s = AddInput(r, "s", "BYTES", {2})->mutable_contents();
  s->add_bytes_contents("hi");
  s->add_bytes_contents("");
  auto req = RequestFromProto(r);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->inputs[0].data, std::string("\xff\x00\x7f", 3));
  EXPECT_EQ(req->inputs[1].data, Bytes<uint16_t>({1, 65535}));
  EXPECT_EQ(req->inputs[2].data, std::string("\x01\x00", 2));
  EXPECT_EQ(req->inputs[3].data, Bytes<double>({0.25}));
  EXPECT_EQ(req->inputs[4].data, Bytes<uint32_t>({2}) + "hi" + Bytes<uint32_t>({0}));
}

// Each case must fail with kInvalidArgument and a message containing `names`.
struct BadCase {
  const char* what;
  std::function<void(ModelInferRequest&)> build;
  const char* names;
};

TEST(GrpcInferProto, RefusesMalformedOrUnsupportedRequestsNamingTheField) {
  const BadCase cases[] = {
      {"out of range",
       [](auto& r) { AddInput(r, "x", "INT8", {1})->mutable_contents()->add_int_contents(300); },
       "300"},
      {"count",
       [](auto& r) { AddInput(r, "x", "FP32", {3})->mutable_contents()->add_fp32_contents(1); },
       "fp32_contents has 1 values"},
      {"fp16 typed",
       [](auto& r) { AddInput(r, "x", "FP16", {1})->mutable_contents()->add_fp32_contents(1); },
       "raw_input_contents"},
      {"wrong field",
       [](auto& r) { AddInput(r, "x", "INT32", {1})->mutable_contents()->add_int64_contents(1); },
       "int_contents"},
      {"mixed",
       [](auto& r) {
         AddInput(r, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1);
         AddInput(r, "y", "FP32", {1});
         r.add_raw_input_contents(Bytes<float>({1}));
       },
       "do not mix"},
      {"extra raw",
       [](auto& r) {
         AddInput(r, "x", "FP32", {1});
         r.add_raw_input_contents(Bytes<float>({1}));
         r.add_raw_input_contents(Bytes<float>({2}));
       },
       "raw_input_contents has 2 entries"},
      {"no data", [](auto& r) { AddInput(r, "x", "FP32", {1}); }, "\"x\" has no data"},
      {"short raw",
       [](auto& r) {
         AddInput(r, "x", "FP32", {2});
         r.add_raw_input_contents(Bytes<float>({1}));
       },
       "\"x\""},
      {"datatype",
       [](auto& r) {
         AddInput(r, "x", "FP8", {1});
         r.add_raw_input_contents("a");
       },
       "FP8"},
      {"twice",
       [](auto& r) {
         AddInput(r, "x", "INT8", {1});
         AddInput(r, "x", "INT8", {1});
         r.add_raw_input_contents("a");
         r.add_raw_input_contents("b");
       },
       "appears twice"},
      {"request parameter",
       [](auto& r) { (*r.mutable_parameters())["sequence_id"].set_int64_param(1); }, "sequence_id"},
      {"binary_data_output type",
       [](auto& r) { (*r.mutable_parameters())["binary_data_output"].set_string_param("yes"); },
       "binary_data_output"},
      {"input parameter",
       [](auto& r) {
         auto* t = AddInput(r, "x", "INT8", {1});
         (*t->mutable_parameters())["binary_data_size"].set_int64_param(1);
         r.add_raw_input_contents("a");
       },
       "binary_data_size"},
      {"output parameter",
       [](auto& r) {
         auto* o = r.add_outputs();
         o->set_name("o");
         (*o->mutable_parameters())["priority"].set_int64_param(1);
       },
       "priority"},
      {"classification",
       [](auto& r) {
         auto* o = r.add_outputs();
         o->set_name("o");
         (*o->mutable_parameters())["classification"].set_int64_param(0);
       },
       "classification"},
      {"output twice",
       [](auto& r) {
         r.add_outputs()->set_name("o");
         r.add_outputs()->set_name("o");
       },
       "requested twice"},
      {"region without size",
       [](auto& r) {
         auto* t = AddInput(r, "x", "INT8", {1});
         (*t->mutable_parameters())["shared_memory_region"].set_string_param("r");
       },
       "shared_memory_byte_size"},
  };
  for (const BadCase& c : cases) {
    ModelInferRequest r;
    c.build(r);
    auto req = RequestFromProto(r);
    ASSERT_FALSE(req.ok()) << c.what;
    EXPECT_EQ(req.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(req.status().message().find(c.names), std::string::npos)
        << c.what << ": " << req.status().message();
  }
}

TEST(GrpcInferProto, CustomRequestParametersBecomeJsonValues) {
  ModelInferRequest r;
  AddInput(r, "x", "FP32", {1});
  r.add_raw_input_contents(Bytes<float>({1.0f}));
  auto& p = *r.mutable_parameters();
  p["mode"].set_string_param("fast");
  p["top_k"].set_int64_param(-3);
  p["seed"].set_uint64_param(18446744073709551615ull);
  p["temperature"].set_double_param(0.25);
  p["greedy"].set_bool_param(true);
  auto req = RequestFromProto(r);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->parameters, nlohmann::json::parse(R"({"mode": "fast", "top_k": -3,
      "seed": 18446744073709551615, "temperature": 0.25, "greedy": true})"));
  p["empty"];  // a parameter without a value
  EXPECT_FALSE(RequestFromProto(r).ok());
}

TEST(GrpcInferProto, ReadsOutputAndSharedMemoryParameters) {
  ModelInferRequest r;
  auto* t = AddInput(r, "x", "FP32", {2});
  (*t->mutable_parameters())["shared_memory_region"].set_string_param("in");
  (*t->mutable_parameters())["shared_memory_byte_size"].set_int64_param(8);
  (*t->mutable_parameters())["shared_memory_offset"].set_uint64_param(16);
  auto* o = r.add_outputs();
  o->set_name("probs");
  (*o->mutable_parameters())["classification"].set_int64_param(3);
  (*o->mutable_parameters())["binary_data"].set_bool_param(true);
  auto* s = r.add_outputs();
  s->set_name("emb");
  (*s->mutable_parameters())["shared_memory_region"].set_string_param("out");
  (*s->mutable_parameters())["shared_memory_byte_size"].set_int64_param(64);
  auto req = RequestFromProto(r);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  ASSERT_EQ(req->input_regions.count("x"), 1u);
  EXPECT_EQ(req->input_regions["x"].region, "in");
  EXPECT_EQ(req->input_regions["x"].byte_size, 8u);
  EXPECT_EQ(req->input_regions["x"].offset, 16u);
  EXPECT_EQ(req->class_counts["probs"], 3);
  EXPECT_EQ(req->output_regions["emb"].region, "out");
  EXPECT_EQ(req->requested_outputs, (std::vector<std::string>{"probs", "emb"}));
}

TEST(GrpcInferProto, EncodesRequestedOutputsInOrderAsRawContents) {
  server::InferResponse response;
  response.outputs = {{"a", "FP32", {1}, Bytes<float>({1})},
                      {"b", "INT32", {2}, Bytes<int32_t>({2, 3})},
                      {"c", "FP32", {1}, Bytes<float>({4})}};
  server::InferRequest info;
  info.model = "m";
  info.id = "7";
  info.requested_outputs = {"c", "b"};
  info.output_regions["b"] = {"region", 64, 0};
  inference::ModelInferResponse out;
  ASSERT_TRUE(ResponseToProto(response, info, &out).ok());
  EXPECT_EQ(out.model_name(), "m");
  EXPECT_EQ(out.id(), "7");
  ASSERT_EQ(out.outputs_size(), 2);
  ASSERT_EQ(out.raw_output_contents_size(), 2);
  EXPECT_EQ(out.outputs(0).name(), "c");
  EXPECT_EQ(out.raw_output_contents(0), Bytes<float>({4}));
  EXPECT_EQ(out.outputs(1).name(), "b");
  EXPECT_TRUE(out.raw_output_contents(1).empty()) << "it went to shared memory";
  EXPECT_EQ(out.outputs(1).parameters().at("shared_memory_region").string_param(), "region");
  EXPECT_EQ(out.outputs(1).parameters().at("shared_memory_byte_size").int64_param(), 8);

  info.requested_outputs = {"missing"};
  inference::ModelInferResponse none;
  EXPECT_EQ(ResponseToProto(response, info, &none).code(), StatusCode::kInternal);
}

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// The wire bytes, worked out by hand from the field numbers of the KServe v2 / Triton
// protocol (ModelInferRequest: model_name 1, id 3, inputs 5, raw_input_contents 7;
// InferInputTensor: name 1, datatype 2, shape 3 packed; ModelStreamInferResponse:
// error_message 1, infer_response 2; ModelInferResponse: id 3, raw_output_contents 6), so
// that a renumbered field in proto/ fails here rather than at a Triton client.
TEST(GrpcProtoWire, FieldNumbersAreTheProtocols) {
  ModelInferRequest r;
  r.set_model_name("m");
  r.set_id("i");
  AddInput(r, "x", "FP32", {1});
  r.add_raw_input_contents("abcd");
  EXPECT_EQ(Hex(r.SerializeAsString()),
            "0a016d"  // model_name "m"
            "1a0169"  // id "i"
            "2a0c"
            "0a0178"
            "120446503332"
            "1a0101"          // inputs {name "x", "FP32", shape [1]}
            "3a0461626364");  // raw_input_contents "abcd"
  inference::ModelStreamInferResponse s;
  s.set_error_message("e");
  s.mutable_infer_response()->set_id("i");
  s.mutable_infer_response()->add_raw_output_contents("z");
  EXPECT_EQ(Hex(s.SerializeAsString()),
            "0a0165"
            "1206"
            "1a0169"
            "32017a");
}

TEST(GrpcStatus, MapsCoreCodesOnce) {
  const std::pair<StatusCode, ::grpc::StatusCode> table[] = {
      {StatusCode::kInvalidArgument, ::grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kCorruptData, ::grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kUnsupported, ::grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kOutOfRange, ::grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kNotFound, ::grpc::StatusCode::NOT_FOUND},
      {StatusCode::kResourceExhausted, ::grpc::StatusCode::RESOURCE_EXHAUSTED},
      {StatusCode::kUnavailable, ::grpc::StatusCode::UNAVAILABLE},
      {StatusCode::kInternal, ::grpc::StatusCode::INTERNAL},
  };
  for (const auto& [core, grpc] : table) {
    const ::grpc::Status st = ToGrpc(Status(core, "why"));
    EXPECT_EQ(st.error_code(), grpc) << StatusCodeName(core);
    EXPECT_EQ(st.error_message(), "why");
  }
  EXPECT_TRUE(ToGrpc(Status::Ok()).ok());
}

}  // namespace
}  // namespace modelgrid::rpc
