// modelgrid::perf: level ranges, input generation, input-data files, request encoding,
// and load runs against a real server::HttpServer with a fake service. No timing
// assertions: the machines that run this are shared and slow.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>

#include "perf/input_data_file.h"
#include "perf/levels.h"
#include "perf/load_generator.h"
#include "perf/model_inputs.h"
#include "perf/perf_report.h"
#include "perf/request_encoder.h"
#include "perf/tensor_data.h"
#include "server/float16.h"
#include "server/http_server.h"
#include "server/tensor_codec.h"

namespace modelgrid::perf {
namespace {

using nlohmann::json;

std::vector<double> Levels(const std::string& text, bool integers = true) {
  auto r = ParseLevels(text, integers);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : std::vector<double>{};
}

TEST(PerfLevels, ParsesSinglesDoublingMultiplyAndAdd) {
  EXPECT_EQ(Levels("8"), (std::vector<double>{8}));
  EXPECT_EQ(Levels("1:64"), (std::vector<double>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(Levels("1:64:x2"), (std::vector<double>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(Levels("1:10:x3"), (std::vector<double>{1, 3, 9, 10}));
  EXPECT_EQ(Levels("1:16:4"), (std::vector<double>{1, 5, 9, 13, 16}));
  EXPECT_EQ(Levels("4:4"), (std::vector<double>{4}));
  EXPECT_EQ(Levels("1:4:x1.5"), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(Levels("10:30:10", false), (std::vector<double>{10, 20, 30}));
  EXPECT_EQ(Levels("0.5", false), (std::vector<double>{0.5}));
}

TEST(PerfLevels, RejectsBadRanges) {
  for (const char* bad : {"", "0", "-1", "a", "4:2", "1:8:x1", "1:8:0", "1:8:-2", "1:2:3:4", "1.5",
                          "1:8:1.5", "1:", ":8", "1:8:x", "1:100000000:1"}) {
    auto r = ParseLevels(bad, true);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("bad range"), std::string::npos);
    }
  }
  EXPECT_FALSE(ParseLevels("0", false).ok());
}

TEST(PerfTensorData, GeneratesEveryDatatypeWithTheRightSize) {
  const std::map<std::string, size_t> widths = {
      {"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
      {"INT8", 1}, {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
      {"BF16", 2}, {"FP32", 4},  {"FP64", 8}};
  std::mt19937_64 rng(1);
  for (const auto& [dt, width] : widths) {
    for (DataMode mode : {DataMode::kRandom, DataMode::kZero}) {
      auto t = GenerateTensor("x", dt, {2, 3}, mode, rng);
      ASSERT_TRUE(t.ok()) << dt << ": " << t.status().ToString();
      EXPECT_EQ(t->data.size(), 6 * width) << dt;
      auto values = server::DecodeJsonData(*t);
      ASSERT_TRUE(values.ok()) << dt;
      EXPECT_EQ(values->size(), 6u) << dt;
      if (mode == DataMode::kZero) {
        EXPECT_EQ(t->data, std::string(6 * width, '\0')) << dt;
      }
      auto back = JsonToRaw(*values, dt, {2, 3});
      ASSERT_TRUE(back.ok()) << dt << ": " << back.status().ToString();
      EXPECT_EQ(*back, t->data) << dt;  // generated values survive JSON exactly
    }
  }
  auto bytes = GenerateTensor("s", "BYTES", {2}, DataMode::kRandom, rng);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("--input-data"), std::string::npos);
  EXPECT_FALSE(GenerateTensor("x", "FP8", {2}, DataMode::kRandom, rng).ok());
}

TEST(PerfTensorData, ConvertsHalfsAndChecksJsonValues) {
  using server::FloatToHalf;
  using server::HalfToFloat;
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);
  EXPECT_EQ(HalfToFloat(0x3555), HalfToFloat(FloatToHalf(HalfToFloat(0x3555))));
  EXPECT_FLOAT_EQ(HalfToFloat(0x0001), 5.9604645e-08f);
  EXPECT_EQ(server::FloatToBfloat16(1.0f), 0x3f80);
  EXPECT_EQ(server::Bfloat16ToFloat(0x3f80), 1.0f);

  auto nested = JsonToRaw(json::parse("[[1,2],[3,4]]"), "INT16", {4});
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->size(), 8u);
  EXPECT_FALSE(JsonToRaw(json::parse("[1,2,3]"), "INT16", {4}).ok());
  EXPECT_FALSE(JsonToRaw(json::parse("[300]"), "INT8", {1}).ok());
  EXPECT_FALSE(JsonToRaw(json::parse("[-1]"), "UINT32", {1}).ok());
  EXPECT_FALSE(JsonToRaw(json::parse("[\"a\"]"), "FP32", {1}).ok());
  auto strings = JsonToRaw(json::parse("[\"ab\",\"\"]"), "BYTES", {2});
  ASSERT_TRUE(strings.ok());
  EXPECT_EQ(strings->size(), 4u + 2 + 4);
  auto flags = JsonToRaw(json::parse("[true,false,1]"), "BOOL", {3});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(*flags, std::string("\1\0\1", 3));
}

TEST(PerfInputData, ParsesEntriesAndRejectsBadFilesClearly) {
  auto good = ParseInputData(R"({"data": [{"A": [1, 2], "B": {"content": ["x"], "shape": [1]}},
                                          {"A": [3, 4], "B": {"content": ["y"]}}]})");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_EQ(good->size(), 2u);
  EXPECT_EQ((*good)[0].at("B").shape, (std::vector<int64_t>{1}));
  EXPECT_FALSE((*good)[1].at("B").shape.has_value());

  const std::map<std::string, std::string> bad = {
      {"{", "not valid JSON"},
      {"{}", "non-empty \"data\""},
      {R"({"data": []})", "non-empty \"data\""},
      {R"({"data": [3]})", "entry 0"},
      {R"({"data": [{"A": 3}]})", "entry 0, input \"A\""},
      {R"({"data": [{"A": [1]}, {"A": {"shape": [1]}}]})", "entry 1, input \"A\""},
      {R"({"data": [{"A": {"content": [1], "shape": [-1]}}]})", "bad shape"}};
  for (const auto& [text, message] : bad) {
    auto r = ParseInputData(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  }
  auto missing = LoadInputDataFile("/nonexistent/input.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/input.json"), std::string::npos);
}

const json kMetadata = json::parse(R"({"name": "m",
  "inputs": [{"name": "IMAGE", "datatype": "FP32", "shape": [-1, 3, 4]},
             {"name": "TOKENS", "datatype": "INT64", "shape": [-1, -1]}],
  "outputs": [{"name": "OUT", "datatype": "FP32", "shape": [-1]}]})");

TEST(PerfModelInputs, ResolvesBatchAndVariableDims) {
  auto no_shape = ResolveModel("m", kMetadata, 4, {});
  ASSERT_FALSE(no_shape.ok());
  EXPECT_NE(no_shape.status().message().find("--shape TOKENS:"), std::string::npos)
      << no_shape.status().message();
  auto spec = ResolveModel("m", kMetadata, 4, {{"TOKENS", {7}}});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->inputs[0].shape, (std::vector<int64_t>{4, 3, 4}));
  EXPECT_EQ(spec->inputs[1].shape, (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(spec->outputs, (std::vector<std::string>{"OUT"}));
  EXPECT_EQ(spec->inferences_per_request, 4);
  EXPECT_FALSE(ResolveModel("m", kMetadata, 4, {{"TOKENS", {7, 2}}}).ok());
  EXPECT_TRUE(
      ResolveModel("m", kMetadata, 4, {{"TOKENS", {7}}, {"IMAGE", {9}}}).ok());  // fixed: ignored
  EXPECT_TRUE(ResolveModel("m", kMetadata, 4, {{"m/TOKENS", {7}}}).ok());
  EXPECT_FALSE(ResolveModel("m", kMetadata, 4, {{"TOKENS", {7}}, {"m/IMAGE", {3, 5}}}).ok());

  auto entries = ParseInputData(R"({"data": [{"IMAGE": {"content": [1], "shape": [1, 1, 1]},
                                               "TOKENS": [[1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7],
                                                          [1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7]]}]})");
  ASSERT_TRUE(entries.ok());
  auto variants = BuildRequestTensors(*spec, DataMode::kRandom, &*entries, 1);
  ASSERT_TRUE(variants.ok()) << variants.status().ToString();
  EXPECT_EQ((*variants)[0][0].data.size(), 4u);
  EXPECT_EQ((*variants)[0][1].data.size(), 28u * 8);
  auto short_entries = ParseInputData(R"({"data": [{"IMAGE": [1, 2]}]})");
  auto bad = BuildRequestTensors(*spec, DataMode::kRandom, &*short_entries, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("entry 0, input \"IMAGE\""), std::string::npos)
      << bad.status().message();
}

TEST(PerfRequestEncoder, BinaryBodiesCarryTheHeaderLength) {
  std::mt19937_64 rng(1);
  std::vector<TensorData> inputs = {*GenerateTensor("A", "FP32", {2, 2}, DataMode::kRandom, rng),
                                    *GenerateTensor("B", "INT8", {3}, DataMode::kZero, rng)};
  auto binary = EncodeInferRequest(inputs, {"OUT"}, true);
  ASSERT_TRUE(binary.ok());
  size_t header_length = 0;
  for (const auto& [name, value] : binary->headers) {
    if (name == "Inference-Header-Content-Length") header_length = std::stoul(value);
  }
  ASSERT_GT(header_length, 0u);
  EXPECT_EQ(binary->body.size(), header_length + 16 + 3);
  const json header = json::parse(binary->body.substr(0, header_length));
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"], 16);
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data"], true);
  auto text = EncodeInferRequest(inputs, {"OUT"}, false);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(json::parse(text->body)["inputs"][1]["data"], json({0, 0, 0}));
}

// Models "echo" and "echo2" (INPUT0 FP32 [-1, 4], INPUT1 INT32 [-1, 2]) echo their
// inputs; "fail" (same inputs) fails every request. Counts requests per model.
class FakeService : public server::InferenceService {
 public:
  bool Live() override { return true; }
  bool Ready() override { return true; }
  Result<json> ServerMetadata() override {
    return json{{"name", "fake"}, {"version", "0"}, {"extensions", json::array()}};
  }
  Result<json> ModelMetadata(const std::string& model, const std::string&) override {
    if (model != "echo" && model != "echo2" && model != "fail") return NotFound("no " + model);
    return json{{"name", model},
                {"inputs",
                 {{{"name", "INPUT0"}, {"datatype", "FP32"}, {"shape", {-1, 4}}},
                  {{"name", "INPUT1"}, {"datatype", "INT32"}, {"shape", {-1, 2}}}}},
                {"outputs",
                 {{{"name", "OUTPUT0"}, {"datatype", "FP32"}, {"shape", {-1, 4}}},
                  {{"name", "OUTPUT1"}, {"datatype", "INT32"}, {"shape", {-1, 2}}}}}};
  }
  Result<bool> ModelReady(const std::string&, const std::string&) override { return true; }
  Result<json> ModelStats(const std::string&, const std::string&) override {
    return json{{"model_stats", {{{"name", "echo"}}, {{"name", "echo2"}}}}};
  }
  Result<json> RepositoryIndex(bool) override {
    if (!index_) return InferenceService::RepositoryIndex(true);
    return json::array(
        {{{"name", "echo"}, {"state", "READY"}}, {{"name", "echo2"}, {"state", "READY"}}});
  }
  void Infer(server::InferRequest request,
             std::function<void(Result<server::InferResponse>)> done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_[request.model];
      if (!request.binary_outputs.empty()) ++binary_;
      if (request.inputs.size() != 2 || request.inputs[0].data.size() != 16 * batch_) ++bad_;
    }
    if (request.model == "fail") return done(Internal("boom"));
    server::InferResponse response;
    for (server::Tensor t : request.inputs) {
      t.name = "OUTPUT" + t.name.substr(5);
      response.outputs.push_back(std::move(t));
    }
    done(std::move(response));
  }

  int64_t requests(const std::string& model) {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_[model];
  }
  int64_t binary() {
    std::lock_guard<std::mutex> lock(mu_);
    return binary_;
  }
  int64_t bad() {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_;
  }
  void set_index(bool index) { index_ = index; }
  void set_batch(size_t batch) { batch_ = batch; }

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> requests_;
  int64_t binary_ = 0;
  int64_t bad_ = 0;
  std::atomic<bool> index_{true};
  std::atomic<size_t> batch_{1};
};

class PerfRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    auto s = server::HttpServer::Start(options, service_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  PerfOptions Options(std::vector<std::string> models) {
    PerfOptions o;
    o.url.host = "127.0.0.1";
    o.url.port = server_->port();
    o.models = std::move(models);
    o.concurrency = {1, 2};
    o.duration_s = 0.3;
    o.warmup_s = 0.05;
    o.timeout = std::chrono::milliseconds(10'000);
    return o;
  }
  FakeService service_;
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(PerfRunTest, JsonAndBinaryRunsSucceed) {
  for (bool binary : {false, true}) {
    PerfOptions o = Options({"echo"});
    o.binary = binary;
    o.batch = 2;
    service_.set_batch(2);
    auto r = RunPerf(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->levels.size(), 2u);
    EXPECT_EQ(r->levels[0].concurrency, 1);
    EXPECT_EQ(r->levels[1].concurrency, 2);
    EXPECT_GT(r->total_successes, 0);
    EXPECT_EQ(r->total_errors, 0);
    for (const LevelResult& level : r->levels) {
      EXPECT_EQ(level.overall.inferences, 2 * level.overall.successes);
      EXPECT_GE(level.overall.latency.p99_us, level.overall.latency.p50_us);
      ASSERT_EQ(level.models.size(), 1u);
      EXPECT_EQ(level.models[0].summary.successes, level.overall.successes);
    }
    EXPECT_GE(service_.requests("echo"), r->total_successes);
    const json doc = PerfJson(*r);
    EXPECT_EQ(doc["levels"].size(), 2u);
    EXPECT_EQ(doc["levels"][0]["concurrency"], 1);
    EXPECT_NE(PerfTable(*r).find("concurrency 2"), std::string::npos);
  }
  EXPECT_GT(service_.binary(), 0);
  EXPECT_EQ(service_.bad(), 0);
}

TEST_F(PerfRunTest, OpenLoopRunsAtARequestRate) {
  PerfOptions o = Options({"echo"});
  o.concurrency.clear();
  o.request_rates = {50};
  auto r = RunPerf(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->levels.size(), 1u);
  EXPECT_TRUE(r->levels[0].open_loop);
  EXPECT_EQ(r->total_errors, 0);
  EXPECT_GT(r->total_successes, 0);
  EXPECT_EQ(PerfJson(*r)["levels"][0]["request_rate"], 50.0);
}

TEST_F(PerfRunTest, CountsEveryFailure) {
  PerfOptions o = Options({"fail"});
  o.concurrency = {2};
  auto r = RunPerf(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->total_successes, 0);
  EXPECT_GT(r->total_errors, 0);
  const Summary& s = r->levels[0].overall;
  ASSERT_EQ(s.error_messages.size(), 1u);
  EXPECT_NE(s.error_messages[0].find("HTTP 500"), std::string::npos) << s.error_messages[0];
  EXPECT_NE(s.error_messages[0].find("boom"), std::string::npos);
  EXPECT_NE(PerfTable(*r).find("boom"), std::string::npos);
}

TEST_F(PerfRunTest, SpreadsRoundRobinOverModels) {
  PerfOptions o = Options({"echo", "echo2"});
  o.concurrency = {3};
  auto r = RunPerf(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const LevelResult& level = r->levels[0];
  ASSERT_EQ(level.models.size(), 2u);
  EXPECT_EQ(level.models[0].model, "echo");
  EXPECT_EQ(level.models[1].model, "echo2");
  EXPECT_GT(level.models[0].summary.successes, 0);
  EXPECT_GT(level.models[1].summary.successes, 0);
  EXPECT_EQ(level.models[0].summary.successes + level.models[1].summary.successes,
            level.overall.successes);
  // Every request takes the next model in turn, so the totals differ by at most what was
  // in flight at the edges of the window.
  EXPECT_LE(std::abs(service_.requests("echo") - service_.requests("echo2")), 6);
}

TEST_F(PerfRunTest, AllModelsFromTheIndexOrTheStats) {
  for (bool index : {true, false}) {
    service_.set_index(index);
    PerfOptions o = Options({});
    o.all_models = true;
    o.concurrency = {2};
    auto r = RunPerf(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->models, (std::vector<std::string>{"echo", "echo2"}));
  }
}

TEST_F(PerfRunTest, FailsClearlyBeforeTheLoad) {
  auto unknown = RunPerf(Options({"nope"}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("nope"), std::string::npos);
  PerfOptions o = Options({"echo"});
  o.input_data = "/nonexistent/data.json";
  EXPECT_FALSE(RunPerf(o).ok());
  PerfOptions closed = Options({"echo"});
  server_->Stop(std::chrono::milliseconds(0));
  auto unreachable = RunPerf(closed);
  ASSERT_FALSE(unreachable.ok());
  EXPECT_EQ(unreachable.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(unreachable.status().message().find("cannot reach"), std::string::npos);
}

}  // namespace
}  // namespace modelgrid::perf
