// ParseInferJson must give exactly what nlohmann::json::parse gives (the fuzz target
// infer_json_fuzz checks that on arbitrary text): the same values and the same number
// types, for requests its fast path takes and for those it leaves to nlohmann.
#include "server/infer_json.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace modelgrid::server {
namespace {

using nlohmann::json;

// The same document: dump() tells number types apart (1 and 1.0) and prints doubles
// exactly (shortest round trip).
// Returns whether the fast path produced it.
bool ExpectSameAsNlohmann(const std::string& text) {
  bool used_fast = false;
  const json fast = ParseInferJson(text, &used_fast);
  const json slow = json::parse(text, nullptr, false);
  EXPECT_EQ(fast.is_discarded(), slow.is_discarded()) << text;
  if (!slow.is_discarded()) {
    EXPECT_EQ(fast.dump(), slow.dump()) << text;
  }
  return used_fast;
}

TEST(InferJson, NumbersKeepTheirValuesAndTypes) {
  const std::vector<std::string> cases = {
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[4],"data":[1,-2,3.5,4e2]}]})",
      R"({"inputs":[{"data":[0.1,0.30000000000000004,1e-310,-0.0,-0,0]}]})",
      R"({"inputs":[{"data":[18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809]}]})",
      R"({"inputs":[{"data":[[1,2],[3,[4,5]],[]]}], "outputs":[{"name":"y"}]})",
      R"( { "id" : "a" , "inputs" : [ { "data" : [ 1 , 2 ] } , { "data" : [ 3 ] } ] } )",
      R"({"inputs":[{"data":[]}, {"name":"no data"}, 7, {"data":[1.25E+3, 2e-3]}]})",
      R"({"inputs":[{"parameters":{"data":[1,2]},"data":[9]}]})",
  };
  for (const auto& text : cases) EXPECT_TRUE(ExpectSameAsNlohmann(text)) << "not fast: " << text;
  // Numbers stay numbers of nlohmann's types.
  const json doc = ParseInferJson(cases[2]);
  const json& data = doc["inputs"][0]["data"];
  EXPECT_TRUE(data[0].is_number_unsigned());
  EXPECT_TRUE(data[1].is_number_float());  // beyond 64 bits
  EXPECT_TRUE(data[2].is_number_integer());
  EXPECT_TRUE(data[3].is_number_float());
}

TEST(InferJson, WhatItDoesNotTakeGoesToNlohmann) {
  const std::vector<std::string> cases = {
      R"({"inputs":[{"data":[true,false]}]})",                // BOOL
      R"({"inputs":[{"data":["a","b"]}]})",                   // BYTES
      R"({"inputs":[{"data":[1e400, 1e-400]}]})",             // out of double's range
      R"({"inputs":[{"data":[1],"data":[2]}]})",              // a repeated key
      R"({"inputs":[{"data":[1]}],"inputs":[{"data":[]}]})",  // a repeated "inputs"
      R"({"inputs":[{"d\u0061ta":[1,2]}]})",                  // an escaped key
      R"({"in\u0070uts":[{"data":[1,2]}]})",                  // an escaped key
      R"({"inputs":[{"data":[01]}]})",                        // invalid numbers
      R"({"inputs":[{"data":[1,]}]})",
      R"({"inputs":[{"data":[1 2]}]})",
      R"({"inputs":[{"data":[-]}]})",
      R"({"inputs":[{"data":[1.]}]})",
      R"({"inputs":[{"data":[.5]}]})",
      R"({"inputs":[{"data":[1e]}]})",
      R"({"inputs":[{"data":[1]}]} trailing)",  // invalid documents
      R"({"inputs":[{"data":[1]})",
      R"({"inputs":[{"data":[1,2]}]}})",
      R"({"inputs":[{"data":[1]}],})",
      R"([{"inputs":[{"data":[1]}]}])",
      R"({"inputs":[{"data":[1]}], "x":"unterminated})",
      "",
      "{",
      "[]",
      "null",
  };
  for (const auto& text : cases) EXPECT_FALSE(ExpectSameAsNlohmann(text)) << "fast: " << text;
}

TEST(InferJson, DeepDataIsLeftToNlohmann) {
  std::string deep = R"({"inputs":[{"data":)";
  for (int i = 0; i < 70; ++i) deep += "[";
  deep += "1";
  for (int i = 0; i < 70; ++i) deep += "]";
  deep += "}]}";
  EXPECT_FALSE(ExpectSameAsNlohmann(deep));
}

}  // namespace
}  // namespace modelgrid::server
