// The classification extension's top-N, Triton's way.
#include <gtest/gtest.h>

#include <cstring>

#include "serve/classification.h"
#include "server/tensor_codec.h"

namespace modelgrid {
namespace {

server::Tensor Floats(std::vector<int64_t> shape, const std::vector<float>& v) {
  server::Tensor t{"scores", "FP32", std::move(shape), std::string(v.size() * 4, '\0')};
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());  // v.data() may be null
  return t;
}

std::vector<std::string> Elements(const server::Tensor& t) {
  auto j = server::DecodeJsonData(t);
  EXPECT_TRUE(j.ok());
  return j->get<std::vector<std::string>>();
}

TEST(ServeClassification, TopNWithAndWithoutLabels) {
  const server::Tensor scores = Floats({4}, {1, 5, 10, 4});
  auto top = Classify(scores, 2, false, {});
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  EXPECT_EQ(top->datatype, "BYTES");
  EXPECT_EQ(top->shape, std::vector<int64_t>({2}));
  EXPECT_EQ(Elements(*top), std::vector<std::string>({"10.000000:2", "5.000000:1"}));
  auto labelled = Classify(scores, 3, false, {"a", "b", "c"});  // index 3 has no label
  ASSERT_TRUE(labelled.ok());
  EXPECT_EQ(Elements(*labelled),
            std::vector<std::string>({"10.000000:2:c", "5.000000:1:b", "4.000000:3"}));
}

TEST(ServeClassification, BatchedRowsAreClassifiedEachAndTiesKeepIndexOrder) {
  auto top = Classify(Floats({2, 3}, {1, 1, 0, 0, 2, 2}), 2, true, {});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->shape, std::vector<int64_t>({2, 2}));
  EXPECT_EQ(Elements(*top),
            std::vector<std::string>({"1.000000:0", "1.000000:1", "2.000000:1", "2.000000:2"}));
}

TEST(ServeClassification, IntegersPrintAsIntegers) {
  server::Tensor t{"s", "INT64", {3}, std::string(24, '\0')};
  const int64_t v[3] = {-3, 7, 2};
  std::memcpy(t.data.data(), v, 24);
  auto top = Classify(t, 1, false, {});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(Elements(*top), std::vector<std::string>({"7:1"}));
}

TEST(ServeClassification, RefusesWhatCannotBeClassified) {
  EXPECT_FALSE(Classify(Floats({4}, {1, 2, 3, 4}), 5, false, {}).ok());
  server::Tensor text{"s", "BYTES", {1}, std::string("\1\0\0\0x", 5)};
  EXPECT_EQ(Classify(text, 1, false, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(Classify(Floats({0}, {}), 1, false, {}).ok());
}

}  // namespace
}  // namespace modelgrid
