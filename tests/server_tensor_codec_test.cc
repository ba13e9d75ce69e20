// Unit tests for the KServe tensor codec: JSON and binary <-> Tensor, validation, FP16/BF16.
#include "server/tensor_codec.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

#include "server/float16.h"

namespace modelgrid::server {
namespace {

using nlohmann::json;

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
  }
  return out;
}

std::string LengthPrefixed(std::initializer_list<std::string> items) {
  std::string out;
  for (const std::string& s : items) {
    out += Bytes<uint32_t>({static_cast<uint32_t>(s.size())});
    out += s;
  }
  return out;
}

Result<InferRequest> DecodeJson(const json& doc) { return DecodeInferRequest(doc.dump(), {}); }

// A request with one input; `binary` is appended after the JSON header when not empty.
Result<InferRequest> DecodeOne(const json& input, const std::string& binary = "",
                               bool use_header_length = false) {
  const std::string header = json{{"inputs", json::array({input})}}.dump();
  if (!use_header_length) return DecodeInferRequest(header, {});
  return DecodeInferRequest(header + binary, header.size());
}

TEST(TensorCodecTest, ElementBytes) {
  EXPECT_EQ(DatatypeElementBytes("BOOL"), 1u);
  EXPECT_EQ(DatatypeElementBytes("INT8"), 1u);
  EXPECT_EQ(DatatypeElementBytes("UINT16"), 2u);
  EXPECT_EQ(DatatypeElementBytes("FP16"), 2u);
  EXPECT_EQ(DatatypeElementBytes("BF16"), 2u);
  EXPECT_EQ(DatatypeElementBytes("FP32"), 4u);
  EXPECT_EQ(DatatypeElementBytes("INT64"), 8u);
  EXPECT_EQ(DatatypeElementBytes("FP64"), 8u);
  EXPECT_EQ(DatatypeElementBytes("BYTES"), 0u);
  EXPECT_FALSE(DatatypeElementBytes("FLOAT").has_value());
  EXPECT_FALSE(DatatypeElementBytes("fp32").has_value());
}

TEST(TensorCodecTest, ElementCount) {
  EXPECT_EQ(*ElementCount({}), 1);
  EXPECT_EQ(*ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(*ElementCount({0, 5}), 0);
  EXPECT_FALSE(ElementCount({-1, 2}).ok());
  EXPECT_FALSE(ElementCount({int64_t{1} << 40, int64_t{1} << 40}).ok());
}

struct DtypeCase {
  const char* datatype;
  json data;
  std::string bytes;
};

TEST(TensorCodecTest, EveryDatatypeRoundTripsThroughJson) {
  const std::vector<DtypeCase> cases = {
      {"BOOL", {true, false}, std::string("\x01\x00", 2)},
      {"UINT8", {0, 255}, Bytes<uint8_t>({0, 255})},
      {"UINT16", {1, 65535}, Bytes<uint16_t>({1, 65535})},
      {"UINT32", {7, 4294967295u}, Bytes<uint32_t>({7, 4294967295u})},
      {"UINT64", {0, 18446744073709551615ull}, Bytes<uint64_t>({0, 18446744073709551615ull})},
      {"INT8", {-128, 127}, Bytes<int8_t>({-128, 127})},
      {"INT16", {-32768, 32767}, Bytes<int16_t>({-32768, 32767})},
      {"INT32", {-2147483648ll, 2147483647}, Bytes<int32_t>({-2147483647 - 1, 2147483647})},
      {"INT64",
       {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()},
       Bytes<int64_t>({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()})},
      {"FP16", {1.5, -2.0}, Bytes<uint16_t>({0x3e00, 0xc000})},
      {"BF16", {1.5, -2.0}, Bytes<uint16_t>({0x3fc0, 0xc000})},
      {"FP32", {0.25, -3.0}, Bytes<float>({0.25f, -3.0f})},
      {"FP64", {0.1, 1e300}, Bytes<double>({0.1, 1e300})},
      {"BYTES", {"ab", ""}, LengthPrefixed({"ab", ""})},
  };
  for (const DtypeCase& c : cases) {
    SCOPED_TRACE(c.datatype);
    auto encoded = EncodeJsonData(c.data, c.datatype, {2});
    ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
    EXPECT_EQ(*encoded, c.bytes);
    Tensor t{"x", c.datatype, {2}, c.bytes};
    EXPECT_TRUE(ValidateTensorData(t).ok());
    auto decoded = DecodeJsonData(t);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, c.data);
    // The text written straight from the bytes (responses) reads back the same, and
    // encodes back to the same bytes.
    std::string text;
    ASSERT_TRUE(AppendJsonData(t, &text).ok());
    const json reread = json::parse(text);
    EXPECT_EQ(reread, c.data) << text;
    EXPECT_EQ(*EncodeJsonData(reread, c.datatype, {2}), c.bytes) << text;
  }
}

TEST(TensorCodecTest, JsonTextIsTheShortestThatReadsBackAtTheTensorsPrecision) {
  std::string text;
  const float third = 1.0f / 3.0f;
  ASSERT_TRUE(AppendJsonData({"x", "FP32", {3}, Bytes<float>({0.1f, third, -1e-30f})}, &text).ok());
  EXPECT_EQ(text, "[0.1,0.33333334,-1e-30]");
  const json values = json::parse(text);
  EXPECT_EQ(static_cast<float>(values[1].get<double>()), third);
  text.clear();
  ASSERT_TRUE(AppendJsonData({"x", "FP64", {2}, Bytes<double>({0.1, 1.0 / 3.0})}, &text).ok());
  EXPECT_EQ(json::parse(text)[1].get<double>(), 1.0 / 3.0);
  // JSON has no NaN or infinity: Triton's tokens, never null.
  text.clear();
  const float inf = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(AppendJsonData({"x", "FP32", {4}, Bytes<float>({NAN, inf, -inf, 2.0f})}, &text).ok());
  EXPECT_EQ(text, "[NaN,Infinity,-Infinity,2]");
  text.clear();
  ASSERT_TRUE(AppendJsonData({"x", "FP64", {2}, Bytes<double>({-INFINITY, NAN})}, &text).ok());
  EXPECT_EQ(text, "[-Infinity,NaN]");
  // A tensor whose bytes disagree with its shape is refused, not written.
  text.clear();
  EXPECT_FALSE(AppendJsonData({"x", "FP32", {3}, Bytes<float>({1.0f})}, &text).ok());
}

TEST(TensorCodecTest, NestedDataIsFlattened) {
  auto encoded = EncodeJsonData(json::parse("[[1,2,3],[4,5,6]]"), "INT32", {2, 3});
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, Bytes<int32_t>({1, 2, 3, 4, 5, 6}));
  // Flat data for a 2-D shape is accepted too.
  EXPECT_TRUE(EncodeJsonData(json::parse("[1,2,3,4,5,6]"), "INT32", {2, 3}).ok());
}

TEST(TensorCodecTest, WrongElementCountsAreRejected) {
  EXPECT_FALSE(EncodeJsonData(json::parse("[1,2,3]"), "INT32", {2, 2}).ok());
  EXPECT_FALSE(EncodeJsonData(json::parse("[[1,2],[3,4],[5]]"), "INT32", {2, 2}).ok());
  EXPECT_FALSE(EncodeJsonData(json::parse("[]"), "FP32", {1}).ok());
  EXPECT_TRUE(EncodeJsonData(json::parse("[]"), "FP32", {0, 3}).ok());
}

TEST(TensorCodecTest, OutOfRangeAndWrongTypesAreRejected) {
  EXPECT_FALSE(EncodeJsonData(json{256}, "UINT8", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{-1}, "UINT8", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{-129}, "INT8", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{32768}, "INT16", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{2147483648ll}, "INT32", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{18446744073709551615ull}, "INT64", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{-1}, "UINT64", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{1.5}, "INT32", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{"7"}, "INT32", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{1}, "BOOL", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{1}, "BYTES", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{true}, "FP32", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{1e39}, "FP32", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{70000.0}, "FP16", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{1e39}, "BF16", {1}).ok());
  EXPECT_TRUE(EncodeJsonData(json{65504.0}, "FP16", {1}).ok());
  EXPECT_FALSE(EncodeJsonData(json{1}, "COMPLEX64", {1}).ok());
}

TEST(TensorCodecTest, HalfAndBfloat16Conversions) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);
  EXPECT_EQ(FloatToHalf(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 4096), 0x3c00);      // ties to even
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float f = HalfToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), bits) << bits;
  }
  EXPECT_EQ(FloatToBfloat16(1.0f), 0x3f80);
  EXPECT_EQ(Bfloat16ToFloat(0x4049), 3.140625f);
  EXPECT_EQ(FloatToBfloat16(3.14159f), 0x4049);
  EXPECT_TRUE(std::isnan(Bfloat16ToFloat(FloatToBfloat16(std::nanf("")))));
}

TEST(TensorCodecTest, DecodesJsonRequest) {
  json doc = json::parse(R"({
    "id": "42",
    "parameters": {"binary_data_output": true},
    "inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 2], "data": [[1.0, 2.0]]}],
    "outputs": [{"name": "y", "parameters": {"binary_data": false}}, {"name": "z"}]
  })");
  auto req = DecodeJson(doc);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->id, "42");
  ASSERT_EQ(req->inputs.size(), 1u);
  EXPECT_EQ(req->inputs[0].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(req->inputs[0].data, Bytes<float>({1.0f, 2.0f}));
  EXPECT_EQ(req->requested_outputs, (std::vector<std::string>{"y", "z"}));
  EXPECT_FALSE(WantsBinaryOutput(req->binary_outputs, "y"));
  EXPECT_TRUE(WantsBinaryOutput(req->binary_outputs, "z"));
}

TEST(TensorCodecTest, MalformedRequestsAreRejected) {
  const char* bad[] = {
      "",
      "{",
      "[]",
      R"({"inputs": 3})",
      R"({})",
      R"({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "a", "shape": [1], "data": [1]}]})",
      R"({"inputs": [{"name": "a", "datatype": "FP32", "data": [1]}]})",
      R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1]}]})",
      R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [-1], "data": []}]})",
      R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": "1", "data": [1]}]})",
      R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [1]},
                     {"name": "a", "datatype": "FP32", "shape": [1], "data": [1]}]})",
      R"({"id": 5, "inputs": []})",
      R"({"inputs": [], "outputs": [{"nome": "x"}]})",
      R"({"inputs": [], "parameters": {"binary_data_output": "yes"}})",
      R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [1],
                      "parameters": 7}]})",
      R"({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]})",
  };
  for (const char* body : bad) {
    auto req = DecodeInferRequest(body, {});
    EXPECT_FALSE(req.ok()) << body;
    if (!req.ok()) {
      EXPECT_EQ(req.status().code(), StatusCode::kInvalidArgument) << body;
    }
  }
}

TEST(TensorCodecTest, BinaryInputsTakeBytesInOrder) {
  const std::string floats = Bytes<float>({1.0f, 2.0f, 3.0f});
  const std::string strings = LengthPrefixed({"hi", "there"});
  const std::string header = json::parse(R"({"inputs": [
    {"name": "f", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": 12}},
    {"name": "j", "datatype": "INT8", "shape": [1], "data": [5]},
    {"name": "s", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 15}}
  ]})")
                                 .dump();
  auto req = DecodeInferRequest(header + floats + strings, header.size());
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  ASSERT_EQ(req->inputs.size(), 3u);
  EXPECT_EQ(req->inputs[0].data, floats);
  EXPECT_EQ(req->inputs[1].data, std::string("\x05"));
  EXPECT_EQ(req->inputs[2].data, strings);
}

TEST(TensorCodecTest, BadBinarySizesAreRejected) {
  json input = {{"name", "f"},
                {"datatype", "FP32"},
                {"shape", {2}},
                {"parameters", {{"binary_data_size", 8}}}};
  const std::string two_floats = Bytes<float>({1.0f, 2.0f});
  EXPECT_TRUE(DecodeOne(input, two_floats, true).ok());
  // Fewer bytes than declared, more bytes than declared, size not matching the shape.
  EXPECT_FALSE(DecodeOne(input, two_floats.substr(0, 6), true).ok());
  EXPECT_FALSE(DecodeOne(input, two_floats + "xx", true).ok());
  input["parameters"]["binary_data_size"] = 6;
  EXPECT_FALSE(DecodeOne(input, two_floats.substr(0, 6), true).ok());
  input["parameters"]["binary_data_size"] = -8;
  EXPECT_FALSE(DecodeOne(input, two_floats, true).ok());
  // Binary input without the header-length header.
  input["parameters"]["binary_data_size"] = 8;
  EXPECT_FALSE(DecodeOne(input).ok());
  // Both data and binary.
  input["data"] = {1.0, 2.0};
  EXPECT_FALSE(DecodeOne(input, two_floats, true).ok());
  // BYTES whose length prefixes overrun or whose count is wrong.
  json strings = {{"name", "s"},
                  {"datatype", "BYTES"},
                  {"shape", {2}},
                  {"parameters", {{"binary_data_size", 9}}}};
  EXPECT_TRUE(DecodeOne(strings, LengthPrefixed({"a", ""}), true).ok());
  std::string overrun = Bytes<uint32_t>({100}) + "abcde";
  EXPECT_FALSE(DecodeOne(strings, overrun, true).ok());
  strings["parameters"]["binary_data_size"] = 5;
  EXPECT_FALSE(DecodeOne(strings, LengthPrefixed({"a"}), true).ok());
}

TEST(TensorCodecTest, HeaderLengthLargerThanBody) {
  auto req = DecodeInferRequest(R"({"inputs": []})", 100);
  ASSERT_FALSE(req.ok());
  EXPECT_EQ(req.status().code(), StatusCode::kInvalidArgument);
  // A header length cutting the JSON short is malformed JSON.
  EXPECT_FALSE(DecodeInferRequest(R"({"inputs": []})", 5).ok());
}

TEST(TensorCodecTest, EncodesJsonAndBinaryOutputs) {
  InferResponse resp;
  resp.outputs.push_back({"y", "FP32", {2}, Bytes<float>({1.5f, 2.5f})});
  resp.outputs.push_back({"b", "INT64", {1}, Bytes<int64_t>({-7})});
  InferRequest info;
  info.model = "m";
  info.id = "7";
  auto json_only = EncodeInferResponse(resp, info);
  ASSERT_TRUE(json_only.ok());
  EXPECT_FALSE(json_only->header_length.has_value());
  json doc = json::parse(json_only->body);
  EXPECT_EQ(doc["model_name"], "m");
  EXPECT_EQ(doc["id"], "7");
  EXPECT_EQ(doc["outputs"][0]["data"], json({1.5, 2.5}));
  EXPECT_EQ(doc["outputs"][1]["data"], json({-7}));

  info.binary_outputs["b"] = true;
  info.requested_outputs = {"b", "y"};
  auto mixed = EncodeInferResponse(resp, info);
  ASSERT_TRUE(mixed.ok());
  ASSERT_TRUE(mixed->header_length.has_value());
  json header = json::parse(mixed->body.substr(0, *mixed->header_length));
  EXPECT_EQ(header["outputs"][0]["name"], "b");
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_FALSE(header["outputs"][0].contains("data"));
  EXPECT_EQ(header["outputs"][1]["data"], json({1.5, 2.5}));
  EXPECT_EQ(mixed->body.substr(*mixed->header_length), Bytes<int64_t>({-7}));

  info.requested_outputs = {"missing"};
  EXPECT_FALSE(EncodeInferResponse(resp, info).ok());
  info.requested_outputs.clear();
  resp.outputs[0].data.pop_back();  // malformed output from the service
  auto bad = EncodeInferResponse(resp, info);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
}

TEST(TensorCodecTest, InvalidUtf8InBytesOutputDoesNotThrow) {
  InferResponse resp;
  resp.outputs.push_back({"s", "BYTES", {1}, LengthPrefixed({std::string("\xff\xfe", 2)})});
  auto encoded = EncodeInferResponse(resp, InferRequest{});
  ASSERT_TRUE(encoded.ok());
  EXPECT_FALSE(json::parse(encoded->body, nullptr, false).is_discarded());
}

TEST(TensorCodecTest, DeepNestingIsRejectedNotCrashing) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  const std::string body =
      R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": )" + deep + "}]}";
  EXPECT_FALSE(DecodeInferRequest(body, {}).ok());
}

TEST(TensorCodecTest, RequestsBeyondTheJsonLimitsAreRejectedBeforeParsing) {
  // Deep parameters (the copy into the request recursed once) and deep non-numeric data.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& body :
       {R"({"parameters": {"a": )" + deep + R"(}, "inputs": []})",
        R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [{"a": )" + deep +
            "}]}]}"}) {
    auto req = DecodeInferRequest(body, {});
    ASSERT_FALSE(req.ok());
    EXPECT_NE(req.status().message().find("deeper than"), std::string::npos)
        << req.status().message();
  }
  // A value the client sent is quoted briefly in an error, never whole.
  const std::string big = R"({"inputs": [{"name": "a", "datatype": "INT32", "shape": [1],
      "data": [")" + std::string(1 << 20, 'x') +
                          R"("]}]})";
  auto req = DecodeInferRequest(big, {});
  ASSERT_FALSE(req.ok());
  EXPECT_LT(req.status().message().size(), 200u) << req.status().message().substr(0, 200);
  // The same output asked for twice is named.
  req = DecodeInferRequest(R"({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]})", {});
  ASSERT_FALSE(req.ok());
  EXPECT_NE(req.status().message().find("\"y\" is requested twice"), std::string::npos);
}

}  // namespace
}  // namespace modelgrid::server
