#include "formats/zip_reader.h"

#include <gtest/gtest.h>

#include "support/zip_builder.h"

namespace modelgrid {
namespace {

using testing::ZipBuilder;

Result<std::vector<ZipEntry>> Read(const std::string& bytes) {
  MemoryByteReader reader(bytes);
  return ReadZipDirectory(reader);
}

TEST(ZipReader, ReadsStoredEntries) {
  std::string zip =
      ZipBuilder().Add("archive/data.pkl", "PKL").Add("archive/data/0", "0123").Build();
  auto entries = Read(zip);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].name, "archive/data.pkl");
  EXPECT_EQ((*entries)[1].name, "archive/data/0");
  EXPECT_EQ((*entries)[1].compressed_bytes, 4u);
  EXPECT_EQ((*entries)[1].uncompressed_bytes, 4u);
  EXPECT_TRUE((*entries)[1].stored());
  MemoryByteReader reader(zip);
  auto data = ReadZipEntry(reader, (*entries)[1], 100);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "0123");
  EXPECT_EQ(FindZipEntry(*entries, "archive/data.pkl"), &(*entries)[0]);
  EXPECT_EQ(FindZipEntry(*entries, "nope"), nullptr);
}

TEST(ZipReader, HonoursLocalHeaderPaddingAndComment) {
  ZipBuilder::Options options;
  options.pad_to = 64;
  options.comment = std::string(1000, 'c');
  std::string zip = ZipBuilder(options).Add("a/data/0", "abcdef").Add("a/x", "z").Build();
  auto entries = Read(zip);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ((*entries)[0].data_offset % 64, 0u);
  MemoryByteReader reader(zip);
  EXPECT_EQ(*ReadZipEntry(reader, (*entries)[0], 100), "abcdef");
}

TEST(ZipReader, ReadsZip64Records) {
  ZipBuilder::Options options;
  options.zip64 = true;
  std::string zip = ZipBuilder(options).Add("r/data.pkl", "p").Add("r/data/7", "seven").Build();
  auto entries = Read(zip);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].compressed_bytes, 5u);
  MemoryByteReader reader(zip);
  EXPECT_EQ(*ReadZipEntry(reader, (*entries)[1], 100), "seven");
}

TEST(ZipReader, ReadEntryRefusesCompressedAndOversized) {
  std::string zip = ZipBuilder().Add("code.py", "xxxx", 8).Add("big", std::string(50, 'b')).Build();
  auto entries = Read(zip);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  MemoryByteReader reader(zip);
  EXPECT_EQ(ReadZipEntry(reader, (*entries)[0], 100).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(ReadZipEntry(reader, (*entries)[1], 10).status().code(), StatusCode::kOutOfRange);
}

TEST(ZipReader, RejectsNonZip) {
  EXPECT_EQ(Read("").status().code(), StatusCode::kCorruptData);
  EXPECT_EQ(Read(std::string(5000, 'x')).status().code(), StatusCode::kCorruptData);
}

TEST(ZipReader, EveryTruncationFailsCleanly) {
  std::string zip = ZipBuilder().Add("a/data.pkl", "hello").Add("a/data/0", "0123456789").Build();
  for (size_t n = 0; n < zip.size(); ++n) {
    auto entries = Read(zip.substr(0, n));
    EXPECT_FALSE(entries.ok()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(ZipReader, RejectsAbsurdEntryCount) {
  std::string zip = ZipBuilder().Add("a", "1").Build();
  // EOCD total-entries field sits 10 bytes into the 22-byte end record.
  const size_t eocd = zip.size() - 22;
  zip[eocd + 8] = zip[eocd + 10] = static_cast<char>(0xFF);
  zip[eocd + 9] = zip[eocd + 11] = static_cast<char>(0xFF);
  auto entries = Read(zip);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), StatusCode::kCorruptData);
  EXPECT_NE(entries.status().message().find("cannot fit"), std::string::npos);
}

TEST(ZipReader, EnforcesEntryLimit) {
  ZipBuilder builder;
  for (int i = 0; i < 10; ++i) builder.Add("e" + std::to_string(i), "x");
  std::string zip = builder.Build();
  MemoryByteReader reader(zip);
  ZipLimits limits;
  limits.max_entries = 5;
  EXPECT_EQ(ReadZipDirectory(reader, limits).status().code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(ReadZipDirectory(reader).ok());
}

TEST(ZipReader, RejectsDirectoryOutsideFile) {
  std::string zip = ZipBuilder().Add("a", "1").Build();
  const size_t eocd = zip.size() - 22;
  zip[eocd + 16] = static_cast<char>(0xF0);  // cd offset far away
  zip[eocd + 19] = static_cast<char>(0x7F);
  EXPECT_EQ(Read(zip).status().code(), StatusCode::kCorruptData);
}

TEST(ZipReader, RejectsEntryDataOutsideFile) {
  std::string zip = ZipBuilder().Add("a/data/0", "12345678").Build();
  // Central header: compressed size at +20, uncompressed at +24.
  const size_t cd = zip.find("PK\x01\x02");
  ASSERT_NE(cd, std::string::npos);
  for (int field : {20, 24}) {
    zip[cd + field] = static_cast<char>(0xFF);
    zip[cd + field + 1] = static_cast<char>(0xFF);
    zip[cd + field + 2] = static_cast<char>(0xFF);
    zip[cd + field + 3] = static_cast<char>(0x0F);
  }
  EXPECT_EQ(Read(zip).status().code(), StatusCode::kCorruptData);
}

TEST(ZipReader, RejectsLocalHeaderOutsideFile) {
  std::string zip = ZipBuilder().Add("a", "12345678").Build();
  const size_t cd = zip.find("PK\x01\x02");
  zip[cd + 42] = static_cast<char>(0x00);
  zip[cd + 43] = static_cast<char>(0x00);
  zip[cd + 44] = static_cast<char>(0x10);  // local header at 1 MiB
  EXPECT_EQ(Read(zip).status().code(), StatusCode::kCorruptData);
}

TEST(ZipReader, RejectsMissingZip64Extra) {
  std::string zip = ZipBuilder().Add("a", "12345678").Build();
  const size_t cd = zip.find("PK\x01\x02");
  for (int i = 0; i < 4; ++i) zip[cd + 20 + i] = static_cast<char>(0xFF);
  EXPECT_EQ(Read(zip).status().code(), StatusCode::kCorruptData);
}

}  // namespace
}  // namespace modelgrid
