// Sizes as every flag, GPU spec, manifest and config.pbtxt parameter reads them.
#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace modelgrid {
namespace {

TEST(ByteSize, ReadsEveryUnitAndZero) {
  struct Case {
    const char* text;
    uint64_t bytes;
  } cases[] = {
      {"0", 0},
      {"0B", 0},
      {"123", 123},
      {"85899345920B", 85899345920ull},
      {"85899345920 b", 85899345920ull},
      {"4KiB", 4096},
      {"4 kib", 4096},
      {"4KB", 4000},
      {"2MiB", 2ull << 20},
      {"2MB", 2'000'000},
      {"80GiB", 80ull << 30},
      {"24GB", 24'000'000'000ull},
      {"1TiB", 1ull << 40},
      {"1TB", 1'000'000'000'000ull},
      {"1.5GiB", 3ull << 29},
      {"0.5KB", 500},
      {".5KiB", 512},
      {"1.0009B", 1},  // fractions of a byte round down
      {"  686MiB  ", 686ull << 20},
      {"64TiB", kMaxByteSize},
  };
  for (const auto& c : cases) {
    auto bytes = ParseByteSize(c.text);
    ASSERT_TRUE(bytes.ok()) << c.text << ": " << bytes.status().ToString();
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

TEST(ByteSize, RejectsWhatIsNotASize) {
  for (const char* text : {"", " ", "B", "GiB", "-5", "+5", "1e9", "5 parsecs", "5GiBs", "0x10",
                           "1.2.3", "5 G", "nan", "inf", "1,000", "12345678901234567890123"}) {
    auto bytes = ParseByteSize(text);
    ASSERT_FALSE(bytes.ok()) << text;
    EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(bytes.status().message().find("KiB"), std::string::npos) << text;
  }
  auto over = ParseByteSize("65TiB");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("over the limit"), std::string::npos);
  EXPECT_FALSE(ParseByteSize("2KiB", 2047).ok());
  EXPECT_TRUE(ParseByteSize("2KiB", 2048).ok());
}

TEST(ByteSize, UnitsMarkSizes) {
  EXPECT_TRUE(HasByteSizeUnit("80GiB"));
  EXPECT_TRUE(HasByteSizeUnit("85899345920B"));
  EXPECT_TRUE(HasByteSizeUnit("24 gb"));
  EXPECT_FALSE(HasByteSizeUnit("4090"));
  EXPECT_FALSE(HasByteSizeUnit("A10G"));
  EXPECT_FALSE(HasByteSizeUnit("12parsecs"));
}

}  // namespace
}  // namespace modelgrid
