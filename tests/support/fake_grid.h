// A test fixture for the serving core with in-process fake workers (fake_workers.h): a
// temporary model repository for each test, a FakeFleet, and the ModelGrid under test,
// with the helpers every such suite needs: write a model, start the grid, send a request.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>

#include "serve/model_grid.h"
#include "support/fake_workers.h"

namespace modelgrid::testing {

class FakeGridTest : public ::testing::Test {
 protected:
  // The repository is a fresh folder named `prefix`, the pid and the test's name.
  explicit FakeGridTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (prefix_ + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    fleet_ = std::make_shared<FakeFleet>();
  }
  void TearDown() override {
    grid_.reset();
    fleet_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A model taking and giving FP32 [4] of `memory_bytes` (its memory_bytes parameter, so no
  // estimate), with `extra` appended to its config. Fake workers echo its input.
  void WriteModel(const std::string& name, uint64_t memory_bytes, const std::string& extra = "") {
    std::filesystem::create_directories(dir_ / name / "1");
    std::ofstream(dir_ / name / "config.pbtxt")
        << "platform: \"pytorch_libtorch\"\n"
           "max_batch_size: 0\n"
           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
           "parameters { key: \"memory_bytes\" value: { string_value: \""
        << memory_bytes << "\" } }\n"
        << extra;
    std::ofstream(dir_ / name / "1" / "model.pt") << "not read by fake workers: " << name;
  }

  // Starts the grid on the repository (`options.repository` is set here) with the fleet's
  // workers, and waits until every model it loads has settled, all of them ready.
  void StartGrid(ServeOptions options) {
    options.repository = dir_.string();
    auto grid = ModelGrid::Start(
        options, [](const std::string&) {}, fleet_->Launcher());
    ASSERT_TRUE(grid.ok()) << grid.status().ToString();
    grid_ = std::move(grid).value();
    int ready = 0, total = 0;
    ASSERT_TRUE(fleet_->WaitUntil([&] { return grid_->AllSettled(&ready, &total); }));
    ASSERT_EQ(ready, total);
  }

  // One request on `m`: INPUT0 of 16 bytes of `fill`.
  std::future<Result<server::InferResponse>> Infer(const std::string& m, char fill = '\1') {
    server::InferRequest r;
    r.model = m;
    r.inputs.push_back({"INPUT0", "FP32", {4}, std::string(16, fill)});
    auto promise = std::make_shared<std::promise<Result<server::InferResponse>>>();
    auto answer = promise->get_future();
    grid_->Infer(std::move(r), [promise](Result<server::InferResponse> out) {
      promise->set_value(std::move(out));
    });
    return answer;
  }

  std::filesystem::path dir_;
  std::shared_ptr<FakeFleet> fleet_;
  std::unique_ptr<ModelGrid> grid_;

 private:
  const std::string prefix_;
};

}  // namespace modelgrid::testing
