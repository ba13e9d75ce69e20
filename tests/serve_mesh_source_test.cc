// StageModelSource: ModelMesh's model paths staged as model folders named by model id.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "serve/mesh_source.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;

constexpr const char* kConfig =
    "name: \"original\"\nplatform: \"pytorch_libtorch\"\nmax_batch_size: 4\n"
    "input [ { name: \"INPUT__0\" data_type: TYPE_FP32 dims: [ 3 ] } ]\n"
    "output [ { name: \"OUTPUT__0\" data_type: TYPE_FP32 dims: [ 3 ] "
    "label_filename: \"labels.txt\" } ]\n";

class MeshSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mg_mesh_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    stage_ = (root_ / "stage").string();
    fs::create_directories(root_ / "src");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  Result<ConfigOverride> Stage(const std::string& id, const fs::path& path,
                               const std::string& type = "pytorch", const std::string& key = "") {
    return StageModelSource(stage_, {id, type, path.string(), key});
  }

  fs::path root_;
  std::string stage_;
};

TEST_F(MeshSourceTest, TritonFolderIsLinkedWholeAndServedUnderTheId) {
  Write(root_ / "src/m/config.pbtxt", kConfig);
  Write(root_ / "src/m/3/model.pt", "weights");
  auto staged = Stage("mesh-id", root_ / "src/m");
  ASSERT_TRUE(staged.ok()) << staged.status().message();
  EXPECT_TRUE(staged->config.name.empty());  // the id names it, not "original"
  EXPECT_EQ(staged->repository, stage_);
  EXPECT_TRUE(fs::is_symlink(fs::path(stage_) / "mesh-id"));
  auto served = ReadServedModel(stage_, "mesh-id", &*staged);
  ASSERT_TRUE(served.ok()) << served.status().message();
  EXPECT_EQ(served->version, 3);
  EXPECT_EQ(served->config.inputs.size(), 1u);
}

TEST_F(MeshSourceTest, FlatFolderBecomesVersionOneWithItsSideFiles) {
  Write(root_ / "src/flat/config.pbtxt", kConfig);
  Write(root_ / "src/flat/model.pt", "weights");
  Write(root_ / "src/flat/labels.txt", "a\nb\nc\n");
  auto staged = Stage("flat", root_ / "src/flat");
  ASSERT_TRUE(staged.ok()) << staged.status().message();
  const fs::path dir = fs::path(stage_) / "flat";
  EXPECT_TRUE(fs::is_regular_file(dir / "1" / "model.pt"));
  EXPECT_TRUE(fs::is_regular_file(dir / "config.pbtxt"));
  EXPECT_TRUE(fs::is_regular_file(dir / "labels.txt"));
  EXPECT_TRUE(ReadServedModel(stage_, "flat", &*staged).ok());
}

TEST_F(MeshSourceTest, BareFileOfAnyNameIsServedAsModelPt) {
  Write(root_ / "src/bare/config.pbtxt", kConfig);
  Write(root_ / "src/bare/weights.pt", "weights");
  auto staged =
      Stage("bare", root_ / "src/bare/weights.pt", "", R"({"model_type":{"name":"pytorch"}})");
  ASSERT_TRUE(staged.ok()) << staged.status().message();
  EXPECT_TRUE(fs::is_regular_file(fs::path(stage_) / "bare/1/model.pt"));
  EXPECT_TRUE(fs::is_regular_file(fs::path(stage_) / "bare/config.pbtxt"));
  EXPECT_TRUE(ReadServedModel(stage_, "bare", &*staged).ok());
}

TEST_F(MeshSourceTest, PythonFolderWithoutConfigAwaitsAutoComplete) {
  Write(root_ / "src/py/model.py", "class TritonPythonModel: pass\n");
  Write(root_ / "src/py/helper.py", "X = 1\n");
  auto staged = Stage("py", root_ / "src/py", "python");
  ASSERT_TRUE(staged.ok()) << staged.status().message();
  EXPECT_EQ(staged->config.backend, "python");
  EXPECT_TRUE(staged->config.inputs.empty());
  // The folder is version 1: helper modules stay beside model.py.
  EXPECT_TRUE(fs::is_regular_file(fs::path(stage_) / "py/1/helper.py"));
}

TEST_F(MeshSourceTest, RestagingReplacesTheLinksAndRemoveLeavesTheSource) {
  Write(root_ / "src/a/config.pbtxt", kConfig);
  Write(root_ / "src/a/1/model.pt", "a");
  Write(root_ / "src/b/config.pbtxt", kConfig);
  Write(root_ / "src/b/model.pt", "b");
  ASSERT_TRUE(Stage("id", root_ / "src/a").ok());
  ASSERT_TRUE(Stage("id", root_ / "src/b").ok());
  EXPECT_FALSE(fs::is_symlink(fs::path(stage_) / "id"));  // now a folder of links
  RemoveStagedModel(stage_, "id");
  EXPECT_FALSE(fs::exists(fs::path(stage_) / "id"));
  EXPECT_TRUE(fs::exists(root_ / "src/a/1/model.pt"));
  EXPECT_TRUE(fs::exists(root_ / "src/b/model.pt"));
  RemoveStagedModel(stage_, "id");      // idempotent
  RemoveStagedModel(stage_, "../src");  // not a model name: nothing happens
  EXPECT_TRUE(fs::exists(root_ / "src"));
}

TEST_F(MeshSourceTest, BadSourcesAreInvalidArgumentsNamingTheProblem) {
  Write(root_ / "src/m/config.pbtxt", kConfig);
  Write(root_ / "src/m/1/model.pt", "weights");
  Write(root_ / "src/noconfig/model.pt", "weights");
  Write(root_ / "src/nomodel/config.pbtxt", kConfig);
  Write(root_ / "src/two/config.pbtxt", kConfig);
  Write(root_ / "src/two/a.pt", "a");
  Write(root_ / "src/two/b.pt", "b");
  const struct {
    std::string id, path, type, expect;
  } cases[] = {
      {"x", (root_ / "src/missing").string(), "pytorch", "modelPath"},
      {"x", "", "pytorch", "modelPath is empty"},
      {"x", (root_ / "src/m").string(), "onnx", "onnx"},
      {"x", (root_ / "src/m").string(), "python", "does not match"},
      {"..", (root_ / "src/m").string(), "pytorch", "modelId"},
      {"a/b", (root_ / "src/m").string(), "pytorch", "modelId"},
      {"x", (root_ / "src/noconfig").string(), "pytorch", "config.pbtxt"},
      {"x", (root_ / "src/nomodel").string(), "pytorch", "holds no"},
      {"x", (root_ / "src/two").string(), "pytorch", "single .pt"},
  };
  // A modelKey whose model_type.name is not a string.
  auto keyed = Stage("x", root_ / "src/m", "", R"({"model_type":{"name":7}})");
  ASSERT_FALSE(keyed.ok());
  EXPECT_EQ(keyed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(keyed.status().message().find("model_type.name"), std::string::npos)
      << keyed.status().message();
  for (const auto& c : cases) {
    auto staged = StageModelSource(stage_, {c.id, c.type, c.path, ""});
    ASSERT_FALSE(staged.ok()) << c.path;
    EXPECT_EQ(staged.status().code(), StatusCode::kInvalidArgument) << c.path;
    EXPECT_NE(staged.status().message().find(c.expect), std::string::npos)
        << staged.status().message();
  }
}

}  // namespace
}  // namespace modelgrid
