// Content codings: decode what clients send (bounded), encode what they accept.
#include <gtest/gtest.h>

#include "server/compression.h"

namespace modelgrid::server {
namespace {

TEST(ServerCompression, RoundTripsBothCodings) {
  const std::string body = std::string(100000, 'a') + "{\"inputs\": []}";
  for (ContentCoding c : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    auto packed = Compress(body, c);
    ASSERT_TRUE(packed.ok());
    EXPECT_LT(packed->size(), body.size() / 10) << ContentCodingName(c);
    auto back = Decompress(*packed, c, body.size());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, body);
  }
}

TEST(ServerCompression, ABombStopsAtTheLimit) {
  const std::string zeros(8 << 20, '\0');
  auto bomb = Compress(zeros, ContentCoding::kGzip);
  ASSERT_TRUE(bomb.ok());
  auto out = Decompress(*bomb, ContentCoding::kGzip, 1 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(out.status().message().find("1048576"), std::string::npos);
}

TEST(ServerCompression, CorruptTruncatedAndTrailingDataAreRefused) {
  auto packed = Compress("hello, world", ContentCoding::kGzip);
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(Decompress("not gzip at all", ContentCoding::kGzip, 1 << 20).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Decompress(packed->substr(0, packed->size() - 6), ContentCoding::kGzip, 1 << 20)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Decompress(*packed + "xx", ContentCoding::kGzip, 1 << 20).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ServerCompression, ContentEncodingNames) {
  EXPECT_EQ(*ParseContentEncoding("GZIP"), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentEncoding("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentEncoding(" deflate "), ContentCoding::kDeflate);
  EXPECT_EQ(*ParseContentEncoding("identity"), ContentCoding::kIdentity);
  EXPECT_EQ(ParseContentEncoding("br").status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(ParseContentEncoding("gzip, deflate").status().code(), StatusCode::kUnsupported);
}

TEST(ServerCompression, AcceptEncodingWithQValues) {
  struct Case {
    const char* header;
    ContentCoding want;
  };
  const Case cases[] = {
      {"", ContentCoding::kIdentity},
      {"gzip", ContentCoding::kGzip},
      {"deflate", ContentCoding::kDeflate},
      {"deflate, gzip", ContentCoding::kGzip},
      {"gzip;q=0.5, deflate", ContentCoding::kDeflate},
      {"gzip;q=0", ContentCoding::kIdentity},
      {"*", ContentCoding::kGzip},
      {"br, identity", ContentCoding::kIdentity},
      {"GZip ; q=1.0", ContentCoding::kGzip},
  };
  for (const Case& c : cases) EXPECT_EQ(PreferredCoding(c.header), c.want) << c.header;
}

}  // namespace
}  // namespace modelgrid::server
