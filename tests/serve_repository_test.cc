#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "serve/footprint_store.h"
#include "serve/model_repository.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;

class ServeRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = fs::temp_directory_path() / ("mg_repo_" + std::to_string(::getpid()));
    fs::remove_all(repo_);
    AddModel("resnet",
             "platform: \"pytorch_libtorch\"\nmax_batch_size: 8\n"
             "model_warmup [ { name: \"w\" } ]\n",
             {1, 3});
  }
  void TearDown() override { fs::remove_all(repo_); }
  void AddModel(const std::string& name, const std::string& config, std::vector<int> versions) {
    fs::create_directories(repo_ / name);
    std::ofstream(repo_ / name / "config.pbtxt") << config;
    for (int v : versions) {
      fs::create_directories(repo_ / name / std::to_string(v));
      std::ofstream(repo_ / name / std::to_string(v) / "model.pt") << "PK";
    }
  }
  fs::path repo_;
};

// Every model of a repository, as the server reads them; the first error otherwise.
Result<std::vector<ServedModel>> ReadServeRepository(const std::string& repo) {
  MG_ASSIGN_OR_RETURN(std::vector<std::string> names, ListRepositoryModels(repo));
  if (names.empty()) return NotFound("model repository " + repo + " has no <model>/config.pbtxt");
  std::vector<ServedModel> models;
  for (const auto& name : names) {
    MG_ASSIGN_OR_RETURN(ServedModel m, ReadServedModel(repo, name));
    models.push_back(std::move(m));
  }
  return models;
}

TEST_F(ServeRepositoryTest, ServesTheHighestVersionAndWarnsAboutIgnoredFields) {
  auto models = ReadServeRepository(repo_.string());
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].version, 3);
  EXPECT_EQ((*models)[0].config.max_batch_size, 8);
  ASSERT_EQ((*models)[0].warnings.size(), 1u);
  EXPECT_NE((*models)[0].warnings[0].find("model_warmup"), std::string::npos);
}

TEST_F(ServeRepositoryTest, RejectsWhatItCannotServe) {
  AddModel("onnx", "platform: \"onnxruntime_onnx\"\n", {1});
  EXPECT_EQ(ReadServeRepository(repo_.string()).status().code(), StatusCode::kInvalidArgument);
  fs::remove_all(repo_ / "onnx");
  AddModel("noversion", "backend: \"pytorch\"\n", {});
  EXPECT_FALSE(ReadServeRepository(repo_.string()).ok());
  fs::remove_all(repo_ / "noversion");
  AddModel("renamed", "name: \"other\"\n", {1});
  EXPECT_FALSE(ReadServeRepository(repo_.string()).ok());
  EXPECT_FALSE(ReadServedModel(repo_.string(), "../etc").ok());
  EXPECT_EQ(ReadServedModel(repo_.string(), "absent").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadServeRepository((repo_ / "none").string()).status().code(), StatusCode::kNotFound);
}

TEST(ModelName, OnlySafeCharacters) {
  EXPECT_TRUE(IsValidModelName("resnet-50_v1.2"));
  for (const char* bad : {"", ".", "..", "a/b", "a b", "x%2e", "\xc3\xa9"}) {
    EXPECT_FALSE(IsValidModelName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidModelName(std::string(129, 'a')));
}

TEST(FootprintStore, PersistsMeasurementsAndRejectsGarbage) {
  const fs::path path = fs::temp_directory_path() / ("mg_fp_" + std::to_string(::getpid()));
  fs::remove(path);
  FootprintKey key{"0123456789abcdef", 8, "fp16", "H200"};
  {
    auto store = FootprintStore::Open(path.string());
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE((*store)->Get(key).has_value());
    ASSERT_TRUE((*store)->Put(key, 12345).ok());
  }
  auto again = FootprintStore::Open(path.string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Get(key).value_or(0), 12345u);
  key.batch = 16;
  EXPECT_FALSE((*again)->Get(key).has_value());
  std::ofstream(path) << "[not, json";
  EXPECT_FALSE(FootprintStore::Open(path.string()).ok());
  fs::remove(path);
}

TEST(FileDigest, ChangesWithContent) {
  const fs::path path = fs::temp_directory_path() / ("mg_dg_" + std::to_string(::getpid()));
  std::ofstream(path) << "abc";
  auto a = FileDigest(path.string());
  std::ofstream(path) << "abd";
  auto b = FileDigest(path.string());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 16u);
  fs::remove(path);
  EXPECT_FALSE(FileDigest(path.string()).ok());
}

// A large file is digested from samples: its edges and pieces spread over it.
TEST(FileDigest, LargeFilesChangeWithTheirEdgesPiecesAndSize) {
  const fs::path path = fs::temp_directory_path() / ("mg_dgl_" + std::to_string(::getpid()));
  const uint64_t size = uint64_t{200} << 20;  // sparse: no disk used
  auto write_at = [&](uint64_t off, char c) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(off));
    f.put(c);
  };
  { std::ofstream create(path); }
  fs::resize_file(path, size);
  auto base = FileDigest(path.string());
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_EQ(*FileDigest(path.string()), *base);  // stable
  write_at(10, 'x');                             // the first 4 MiB
  auto head = FileDigest(path.string());
  write_at(size - 10, 'y');  // the last 4 MiB
  auto tail = FileDigest(path.string());
  write_at(uint64_t{4} << 20, 'z');  // the start of the first middle piece
  auto piece = FileDigest(path.string());
  ASSERT_TRUE(head.ok() && tail.ok() && piece.ok());
  EXPECT_NE(*head, *base);
  EXPECT_NE(*tail, *head);
  EXPECT_NE(*piece, *tail);
  fs::resize_file(path, size + 1);
  EXPECT_NE(*FileDigest(path.string()), *piece);
  fs::remove(path);
}

}  // namespace
}  // namespace modelgrid
