// Base64 encoding and decoding for load requests' "file:" parameters, and the folder those files go
// to.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/base64.h"
#include "serve/load_files.h"

namespace modelgrid {
namespace {

TEST(CommonBase64, DecodesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {"Zm9v\nYmFy", "foobar"},
  };
  for (const auto& [text, want] : vectors) {
    auto got = DecodeBase64(text);
    ASSERT_TRUE(got.ok()) << text;
    EXPECT_EQ(*got, want) << text;
  }
  EXPECT_EQ(*DecodeBase64("AP8="), std::string("\0\xff", 2));
}

TEST(CommonBase64, EncodesRfc4648VectorsAndRoundTrips) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [bytes, want] : vectors) EXPECT_EQ(EncodeBase64(bytes), want) << bytes;
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(*DecodeBase64(EncodeBase64(part)), part) << n;
  }
}

TEST(CommonBase64, RefusesMalformedText) {
  for (const char* bad : {"Zg=", "Zm9", "Z===", "=Zm9", "Zg==Zg==", "Zm9*", "Zm=v"}) {
    EXPECT_FALSE(DecodeBase64(bad).ok()) << bad;
  }
}

TEST(ServeLoadFiles, WritesUnderAPrivateFolderAndRemovesIt) {
  std::string root;
  {
    auto files = LoadFiles::Write("m", {{"1/model.pt", "weights"}, {"labels.txt", "a\nb\n"}});
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    root = (*files)->repository();
    EXPECT_TRUE(std::filesystem::is_regular_file(root + "/m/1/model.pt"));
    EXPECT_TRUE(std::filesystem::is_regular_file(root + "/m/labels.txt"));
  }
  EXPECT_FALSE(std::filesystem::exists(root));
  for (const char* bad : {"../x", "/etc/passwd", "1/../../x", "a//b", "./x", "a b", ""}) {
    EXPECT_FALSE(LoadFiles::Write("m", {{bad, "x"}}).ok()) << bad;
  }
}

}  // namespace
}  // namespace modelgrid
