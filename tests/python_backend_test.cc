// The Python backend in this process (embedded CPython, Triton's model.py API), the worker's
// BackendRouter, BYTES tensors at the backend interface, and the Python model estimate.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/backend.h"
#if defined(MODELGRID_HAVE_PYTHON)
#include "backends/python/python_backend.h"
#endif
#include "estimate/python_model.h"
#include "formats/triton_config_json.h"
#include "serve/auto_complete.h"
#include "serve/model_repository.h"
#include "serve/worker_protocol.h"
#include "support/hf_builder.h"
#include "worker/backend_router.h"

namespace modelgrid {
namespace {

namespace fs = std::filesystem;

// BYTES as Triton serialises them: a 4-byte little-endian length, then the bytes.
std::string SerializeBytes(const std::vector<std::string>& elements) {
  std::string out;
  for (const auto& e : elements) {
    const uint32_t n = static_cast<uint32_t>(e.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += e;
  }
  return out;
}

HostTensorView View(const std::string& name, TensorDType dtype, std::vector<int64_t> shape,
                    const void* data, size_t bytes) {
  return {name, dtype, std::move(shape), static_cast<const uint8_t*>(data), bytes};
}

TEST(BytesTensor, CountsWellFormedElementsOnly) {
  const std::string two = SerializeBytes({"ab", ""});
  const auto* p = reinterpret_cast<const uint8_t*>(two.data());
  EXPECT_EQ(BytesElementCount(p, two.size()), 2);
  EXPECT_EQ(BytesElementCount(p, 0), 0);
  EXPECT_EQ(BytesElementCount(p, two.size() - 1), -1);  // the empty element's prefix is cut
  const std::string overrun = SerializeBytes({"abc"}).substr(0, 6);
  EXPECT_EQ(BytesElementCount(reinterpret_cast<const uint8_t*>(overrun.data()), 6), -1);
}

TEST(BytesTensor, CheckInputTensorComparesElementsWithShape) {
  const std::string data = SerializeBytes({"x", "yz"});
  IoSpec spec{"TEXT", TensorDType::kBytes, {-1}};
  EXPECT_TRUE(
      CheckInputTensor(View("TEXT", TensorDType::kBytes, {2}, data.data(), data.size()), &spec, 0)
          .ok());
  const Status wrong =
      CheckInputTensor(View("TEXT", TensorDType::kBytes, {3}, data.data(), data.size()), &spec, 0);
  EXPECT_EQ(wrong.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("BYTES"), std::string::npos) << wrong.message();
}

TEST(BytesTensor, DTypeNamesParseBothWays) {
  for (int i = 0; i <= static_cast<int>(kLastTensorDType); ++i) {
    const auto dtype = static_cast<TensorDType>(i);
    auto parsed = ParseTensorDType(TensorDTypeName(dtype));
    ASSERT_TRUE(parsed.ok()) << TensorDTypeName(dtype);
    EXPECT_EQ(*parsed, dtype);
    auto wire = TensorDTypeFromWire(static_cast<uint8_t>(WireFromTensorDType(dtype)));
    ASSERT_TRUE(wire.ok()) << TensorDTypeName(dtype);
    EXPECT_EQ(*wire, dtype);
  }
  EXPECT_EQ(*ParseTensorDType("TYPE_STRING"), TensorDType::kBytes);  // Triton's config name
  EXPECT_EQ(*ParseTensorDType("TYPE_UINT64"), TensorDType::kUInt64);
}

TEST(LoadConfigJson, CarriesBackendAndModelIdentity) {
  ModelInstanceConfig c;
  c.backend = "python";
  c.path = "/repo/m/3/model.py";
  c.model_name = "m";
  c.model_version = 3;
  c.model_config_json = R"({"name":"m"})";
  auto back = LoadConfigFromJson(LoadConfigToJson(c, 2));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->backend, "python");
  EXPECT_EQ(back->model_name, "m");
  EXPECT_EQ(back->model_version, 3);
  EXPECT_EQ(back->model_config_json, c.model_config_json);
  // A config from before the field existed is a TorchScript one.
  auto old = LoadConfigFromJson(
      R"({"path":"a.pt","device":"cpu","max_batch_size":0,"memory_limit_bytes":0})");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->backend, "pytorch");
  EXPECT_FALSE(LoadConfigFromJson(R"({"backend":7,"path":"a","device":"cpu","max_batch_size":0,)"
                                  R"("memory_limit_bytes":0})")
                   .ok());
}

class CountingBackend final : public Backend {
 public:
  explicit CountingBackend(int* loads) : loads_(loads) {}
  Result<std::unique_ptr<ModelInstance>> Load(const ModelInstanceConfig&) override {
    ++*loads_;
    return InvalidArgument("counted");
  }
  std::string Name() const override { return "counting"; }

 private:
  int* loads_;
};

TEST(BackendRouter, RoutesByConfigAndNamesWhatIsBuilt) {
  int made = 0, loads = 0;
  BackendRouter router;
  router.Add("pytorch", [&] {
    ++made;
    return std::make_unique<CountingBackend>(&loads);
  });
  ModelInstanceConfig config;
  config.backend = "pytorch";
  EXPECT_EQ(router.Load(config).status().message(), "counted");
  EXPECT_EQ(router.Load(config).status().message(), "counted");
  EXPECT_EQ(made, 1);  // made once, on first use
  EXPECT_EQ(loads, 2);
  config.backend = "onnxruntime";
  const Status missing = router.Load(config).status();
  EXPECT_EQ(missing.code(), StatusCode::kUnsupported);
  EXPECT_NE(missing.message().find("'onnxruntime'"), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("pytorch"), std::string::npos) << missing.message();
}

class PythonModelFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mg_python_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "m" / "1");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& relative, const std::string& text) {
    const fs::path p = dir_ / "m" / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  fs::path dir_;
};

TEST_F(PythonModelFolder, EstimateCountsWeightFilesAndTheRuntime) {
  Write("1/model.py", "import numpy\nfrom torch import nn\n");
  fs::create_directories(dir_ / "m" / "1" / "weights");
  testing::WriteSparseSafetensors((dir_ / "m" / "1" / "weights" / "w.safetensors").string(),
                                  {{"w", {1024, 1024}}});  // 4 MiB of FP32
  auto host = EstimatePythonModel((dir_ / "m").string(), true);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(host->weights_bytes, uint64_t{4} << 20);
  EXPECT_TRUE(host->imports_torch);
  EXPECT_EQ(host->runtime_bytes, kPythonRuntimeBytes + kPythonTorchImportBytes);
  EXPECT_EQ(host->total_bytes, host->weights_bytes + host->transient_bytes + host->runtime_bytes);
  EXPECT_EQ(host->transient_bytes, uint64_t{1} << 20);
  auto gpu = EstimatePythonModel((dir_ / "m").string(), false);
  ASSERT_TRUE(gpu.ok());
  EXPECT_EQ(gpu->runtime_bytes, 0u);  // host memory is not device memory
  Write("1/model.py", "import numpy  # torch is not imported here\nx = 'import torch'\n");
  auto numpy_only = EstimatePythonModel((dir_ / "m").string(), true);
  ASSERT_TRUE(numpy_only.ok());
  EXPECT_FALSE(numpy_only->imports_torch);
  EXPECT_EQ(numpy_only->runtime_bytes, kPythonRuntimeBytes);
}

TEST_F(PythonModelFolder, AFolderWithoutConfigIsCompletedByTheInstalledCompleter) {
  Write("1/model.py", "class TritonPythonModel:\n    pass\n");
  auto listed = ListRepositoryModels(dir_.string());
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(*listed, std::vector<std::string>{"m"});  // listed without a config.pbtxt
  SetConfigCompleter(nullptr);
  const Status none = ReadServedModel(dir_.string(), "m").status();
  EXPECT_EQ(none.code(), StatusCode::kUnsupported);
  EXPECT_NE(none.message().find("config.pbtxt"), std::string::npos) << none.message();
  // The poller's change test reads the folder without running the hook.
  auto unread = ReadServedModel(dir_.string(), "m", nullptr, /*auto_complete=*/false);
  ASSERT_TRUE(unread.ok()) << unread.status().ToString();
  EXPECT_FALSE(unread->auto_completed);
  EXPECT_EQ(unread->model_path, (dir_ / "m" / "1" / "model.py").string());
  std::string seen;
  SetConfigCompleter([&](const std::string& model_py, const TritonModelConfig& partial) {
    seen = model_py + " " + partial.backend;
    TritonModelConfig done = partial;
    done.max_batch_size = 4;
    done.inputs = {{"IN", "TYPE_FP32", {3}, ""}};
    done.outputs = {{"OUT", "TYPE_STRING", {1}, ""}};
    return Result<TritonModelConfig>(done);
  });
  auto served = ReadServedModel(dir_.string(), "m");
  SetConfigCompleter(nullptr);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_TRUE(served->auto_completed);
  EXPECT_EQ(seen, (dir_ / "m" / "1" / "model.py").string() + " python");
  EXPECT_EQ(served->config.max_batch_size, 4);
  ASSERT_EQ(served->config.outputs.size(), 1u);
  EXPECT_EQ(served->config.outputs[0].data_type, "TYPE_STRING");
  // A config that declares its tensors is used as it is: no completer runs.
  Write("config.pbtxt",
        "backend: \"python\"\ninput [ { name: \"A\" data_type: TYPE_INT64 dims: [ 1 ] } ]\n");
  auto declared = ReadServedModel(dir_.string(), "m");
  ASSERT_TRUE(declared.ok()) << declared.status().ToString();
  EXPECT_FALSE(declared->auto_completed);
}

TEST_F(PythonModelFolder, ADecoupledModelIsServedButNotWithDynamicBatching) {
  Write("1/model.py", "class TritonPythonModel:\n    pass\n");
  const std::string io = "input [ { name: \"N\" data_type: TYPE_INT32 dims: [ 1 ] } ]\n";
  Write("config.pbtxt", "backend: \"python\"\nmodel_transaction_policy { decoupled: true }\n" + io);
  auto served = ReadServedModel(dir_.string(), "m");
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_TRUE(served->config.decoupled);
  // Each request of a decoupled model executes alone: batching it is refused, not ignored.
  Write("config.pbtxt",
        "backend: \"python\"\nmax_batch_size: 4\ndynamic_batching { }\n"
        "model_transaction_policy { decoupled: true }\n" +
            io);
  const Status st = ReadServedModel(dir_.string(), "m").status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("dynamic_batching"), std::string::npos) << st.message();
}

TEST(AutoCompleteJson, PartialConfigReadsBackAsTheSameConfig) {
  TritonModelConfig c;
  c.name = "m";
  c.backend = "python";
  c.max_batch_size = 2;
  c.inputs = {{"A", "TYPE_FP32", {-1, 3}, ""}};
  c.parameters["k"] = "v";
  c.dynamic_batching = true;
  auto back = ParseTritonConfigJson(PartialConfigJson(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->backend, "python");
  EXPECT_EQ(back->max_batch_size, 2);
  ASSERT_EQ(back->inputs.size(), 1u);
  EXPECT_EQ(back->inputs[0].dims, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(back->parameters.at("k"), "v");
  EXPECT_TRUE(back->dynamic_batching);
}

TEST_F(PythonModelFolder, EstimateNeedsModelPy) {
  EXPECT_FALSE(EstimatePythonModel((dir_ / "m").string(), true).ok());
  fs::remove_all(dir_ / "m" / "1");
  EXPECT_EQ(EstimatePythonModel((dir_ / "m").string(), true).status().code(),
            StatusCode::kNotFound);
}

#if defined(MODELGRID_HAVE_PYTHON)

constexpr const char* kScaleModel = R"(
import json
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.args = args
        cfg = json.loads(args["model_config"])
        self.scale = float(cfg["parameters"]["scale"]["string_value"])

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            if (x < 0).any():
                raise ValueError("negative input")
            if (x == 7).any():
                responses.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("seven is refused", pb_utils.TritonError.INVALID_ARG)))
                continue
            text = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()
            upper = np.array([t.upper() for t in text.flatten()], dtype=np.object_)
            ident = np.array([self.args["model_name"], self.args["model_instance_kind"],
                              self.args["model_version"], self.args["model_instance_name"]],
                             dtype=np.object_)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("Y", (x * self.scale).astype(np.float32)),
                pb_utils.Tensor("UPPER", upper.reshape(text.shape)),
                pb_utils.Tensor("IDENT", ident),
                pb_utils.Tensor("WIDE", x.astype(np.uint64)),
            ]))
        return responses
)";

class PythonBackendTest : public PythonModelFolder {
 protected:
  ModelInstanceConfig Config(const std::string& model_py) {
    ModelInstanceConfig c;
    c.backend = "python";
    c.path = model_py;
    c.model_name = "m";
    c.model_version = 1;
    c.instance_name = "m_0";
    c.model_config_json = R"({"name":"m","parameters":{"scale":{"string_value":"2.5"}}})";
    c.inputs = {{"X", TensorDType::kFp32, {-1}}, {"TEXT", TensorDType::kBytes, {-1}}};
    return c;
  }
  std::unique_ptr<Backend> backend_ = CreatePythonBackend();
};

TEST_F(PythonBackendTest, RunsExecuteOnTheCallersBytes) {
  auto instance = backend_->Load(Config(Write("1/model.py", kScaleModel)));
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  const float x[3] = {1.0f, -0.0f, 0.1f};
  const std::string text = SerializeBytes({"abc", "", "\xc3\xa9t\xc3\xa9"});
  auto out = (*instance)->Infer({View("X", TensorDType::kFp32, {3}, x, sizeof x),
                                 View("TEXT", TensorDType::kBytes, {3}, text.data(), text.size())});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 4u);
  const HostTensor& y = (*out)[0];
  EXPECT_EQ(y.name, "Y");
  EXPECT_EQ(y.dtype, TensorDType::kFp32);
  ASSERT_EQ(y.shape, std::vector<int64_t>{3});
  float got[3];
  std::memcpy(got, y.data.data(), sizeof got);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], x[i] * 2.5f) << i;  // numpy's float32 math
  EXPECT_EQ((*out)[1].dtype, TensorDType::kBytes);
  // Python's bytes.upper() changes ASCII letters only.
  EXPECT_EQ(std::string((*out)[1].data.begin(), (*out)[1].data.end()),
            SerializeBytes({"ABC", "", "\xc3\xa9T\xc3\xa9"}));
  EXPECT_EQ(std::string((*out)[2].data.begin(), (*out)[2].data.end()),
            SerializeBytes({"m", "CPU", "1", "m_0"}));
  EXPECT_EQ((*out)[3].dtype, TensorDType::kUInt64);
  EXPECT_EQ((*out)[3].data.size(), 3 * sizeof(uint64_t));
}

constexpr const char* kBlsModel = R"(
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        x = requests[0].inputs()[0].as_numpy()
        ok = pb_utils.InferenceRequest(model_name="callee", model_version=3,
                                       inputs=[pb_utils.Tensor("IN", x)]).exec()
        bad = pb_utils.InferenceRequest(model_name="missing", inputs=[]).exec()
        return [pb_utils.InferenceResponse([
            ok.output_tensors()[0],
            pb_utils.Tensor("ERROR", np.array([bad.error().message().encode(),
                                               str(bad.error().code()).encode()], dtype=np.object_))])]
)";

TEST_F(PythonBackendTest, BlsCallsGoThroughTheRouterAndFailuresComeBackInTheResponse) {
  BlsRouter router;
  std::vector<std::string> seen;
  router.Bind([&seen](const BlsCall& call) -> Result<std::vector<HostTensor>> {
    seen.push_back(call.model + "/" + std::to_string(call.version));
    if (call.model != "callee") return NotFound("model '" + call.model + "' is not here");
    // callee doubles its one FP32 input.
    const HostTensorView& in = call.inputs.at(0);
    HostTensor out{"OUT", TensorDType::kFp32, in.shape, {}};
    out.data.resize(in.byte_size);
    for (size_t i = 0; i < in.byte_size / sizeof(float); ++i) {
      float v = 0;
      std::memcpy(&v, in.data + i * sizeof v, sizeof v);
      v *= 2;
      std::memcpy(out.data.data() + i * sizeof v, &v, sizeof v);
    }
    return std::vector<HostTensor>{out};
  });
  std::unique_ptr<Backend> backend = CreatePythonBackend(&router);
  ModelInstanceConfig c = Config(Write("1/model.py", kBlsModel));
  c.inputs = {{"X", TensorDType::kFp32, {-1}}};
  auto instance = backend->Load(c);
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  const float x[2] = {1.5f, -4.0f};
  auto out = (*instance)->Infer({View("X", TensorDType::kFp32, {2}, x, sizeof x)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(seen, (std::vector<std::string>{"callee/3", "missing/-1"}));
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "OUT");
  float got[2];
  std::memcpy(got, (*out)[0].data.data(), sizeof got);
  EXPECT_EQ(got[0], 3.0f);
  EXPECT_EQ(got[1], -8.0f);
  // TritonError.NOT_FOUND is 2.
  EXPECT_EQ(std::string((*out)[1].data.begin(), (*out)[1].data.end()),
            SerializeBytes({"model 'missing' is not here", "2"}));
}

TEST_F(PythonBackendTest, AFailedRequestFailsAloneWithItsMessage) {
  auto instance = backend_->Load(Config(Write("1/model.py", kScaleModel)));
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  const std::string text = SerializeBytes({"a"});
  auto run = [&](float v) {
    return (*instance)->Infer({View("X", TensorDType::kFp32, {1}, &v, sizeof v),
                               View("TEXT", TensorDType::kBytes, {1}, text.data(), text.size())});
  };
  const Status raised = run(-1.0f).status();
  EXPECT_EQ(raised.code(), StatusCode::kInternal);
  EXPECT_NE(raised.message().find("ValueError: negative input"), std::string::npos)
      << raised.message();
  EXPECT_NE(raised.message().find("model.py:"), std::string::npos) << raised.message();
  const Status refused = run(7.0f).status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("seven is refused"), std::string::npos) << refused.message();
  EXPECT_TRUE(run(1.0f).ok());  // the next request is served
  // Inputs are checked before any Python runs.
  const float v = 1.0f;
  const Status missing = (*instance)->Infer({View("X", TensorDType::kFp32, {1}, &v, 4)}).status();
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("'TEXT'"), std::string::npos) << missing.message();
}

TEST_F(PythonBackendTest, ABatchOfRequestsReachesExecuteAsSeveralRequests) {
  ModelInstanceConfig config = Config(Write("1/model.py", R"(
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            if (x == 7).any():
                out.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("no sevens in %s" % x.tolist())))
            else:  # each request's rows, and how many requests came together
                out.append(pb_utils.InferenceResponse([
                    pb_utils.Tensor("Y", x * 2),
                    pb_utils.Tensor("N", np.full((x.shape[0], 1), len(requests), np.int32))]))
        return out
)"));
  config.max_batch_size = 8;
  config.inputs = {{"X", TensorDType::kFp32, {2}}};
  auto instance = backend_->Load(config);
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  const float x[4][2] = {{1, 2}, {3, 4}, {7, 7}, {5, 6}};  // requests of 1, 2 and 1 rows
  auto run = [&](std::vector<int64_t> batches) {
    return (*instance)->Infer(
        {View("X", TensorDType::kFp32, {4, 2}, x, sizeof x),
         View(std::string(kRequestBatchesTensor), TensorDType::kInt64,
              {static_cast<int64_t>(batches.size())}, batches.data(), batches.size() * 8)});
  };
  auto out = run({1, 2, 1});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{4, 2}));
  float y[4][2];
  std::memcpy(y, (*out)[0].data.data(), sizeof y);
  EXPECT_EQ(y[0][0], 2.0f);
  EXPECT_EQ(y[1][1], 0.0f);  // the failed request's rows are filler
  EXPECT_EQ(y[2][0], 0.0f);
  EXPECT_EQ(y[3][1], 12.0f);
  int32_t n[4];
  std::memcpy(n, (*out)[1].data.data(), sizeof n);
  EXPECT_EQ(n[0], 3);  // execute saw three requests
  EXPECT_EQ((*out)[2].name, std::string(kRequestErrorsTensor));
  EXPECT_EQ(std::string((*out)[2].data.begin(), (*out)[2].data.end()),
            SerializeBytes({"", "internal\tno sevens in [[3.0, 4.0], [7.0, 7.0]]", ""}));
  EXPECT_FALSE(run({1, 1}).ok());  // batches that do not add up to the inputs
  // Every request of a batch failing: each still gets its own error (and no filler).
  const float sevens[2][2] = {{7, 1}, {7, 2}};
  const std::vector<int64_t> two = {1, 1};
  auto all_failed = (*instance)->Infer(
      {View("X", TensorDType::kFp32, {2, 2}, sevens, sizeof sevens),
       View(std::string(kRequestBatchesTensor), TensorDType::kInt64, {2}, two.data(), 16)});
  ASSERT_TRUE(all_failed.ok()) << all_failed.status().ToString();
  ASSERT_EQ(all_failed->size(), 1u);
  EXPECT_EQ((*all_failed)[0].name, std::string(kRequestErrorsTensor));
  EXPECT_EQ(std::string((*all_failed)[0].data.begin(), (*all_failed)[0].data.end()),
            SerializeBytes(
                {"internal\tno sevens in [[7.0, 1.0]]", "internal\tno sevens in [[7.0, 2.0]]"}));
}

TEST_F(PythonBackendTest, AutoCompleteConfigFillsTheConfigIn) {
  const std::string path = Write("1/model.py", R"(
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        cfg = auto_complete_model_config
        assert cfg.as_dict()["backend"] == "python"
        cfg.add_input({"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]})
        cfg.add_output({"name": "LEN", "data_type": "TYPE_INT32", "dims": [1]})
        cfg.set_max_batch_size(8)
        cfg.set_dynamic_batching()
        return cfg
)");
  TritonModelConfig partial;
  partial.name = "m";
  partial.backend = "python";
  auto text = AutoCompletePythonConfig(path, PartialConfigJson(partial));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto config = ParseTritonConfigJson(*text);
  ASSERT_TRUE(config.ok()) << config.status().ToString() << "\n" << *text;
  EXPECT_EQ(config->max_batch_size, 8);
  EXPECT_TRUE(config->dynamic_batching);
  ASSERT_EQ(config->inputs.size(), 1u);
  EXPECT_EQ(config->inputs[0].name, "TEXT");
  EXPECT_EQ(config->inputs[0].data_type, "TYPE_STRING");
  ASSERT_EQ(config->outputs.size(), 1u);
  // A declared input the hook contradicts is an error naming it.
  partial.inputs = {{"TEXT", "TYPE_FP32", {1}, ""}};
  const Status clash = AutoCompletePythonConfig(path, PartialConfigJson(partial)).status();
  EXPECT_EQ(clash.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(clash.message().find("'TEXT'"), std::string::npos) << clash.message();
  // Without the hook the config comes back as it went.
  const std::string plain = Write("1/model.py", "class TritonPythonModel:\n    pass\n");
  EXPECT_EQ(*AutoCompletePythonConfig(plain, "{\"backend\": \"python\"}"),
            "{\"backend\": \"python\"}");
}

TEST_F(PythonBackendTest, CustomMetricsAreReportedAsJson) {
  auto instance = backend_->Load(Config(Write("1/model.py", R"(
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        family = pb_utils.MetricFamily(name="unit_requests_total", description="Requests",
                                       kind=pb_utils.MetricFamily.COUNTER)
        self.requests = family.Metric(labels={"model": args["model_name"]})
        self.depth = pb_utils.MetricFamily(name="unit_depth", description="Depth",
                                           kind=pb_utils.MetricFamily.GAUGE).Metric()

    def execute(self, requests):
        self.requests.increment(len(requests))
        self.depth.set(-2.5)
        if self.requests.value() > 2:
            self.requests.increment(-1)  # counters only increase: raises
        return [pb_utils.InferenceResponse([pb_utils.Tensor("N", np.array([1]))]) for _ in requests]
)")));
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  const float x = 1.0f;
  const std::string text = SerializeBytes({"a"});
  auto run = [&] {
    return (*instance)->Infer({View("X", TensorDType::kFp32, {1}, &x, 4),
                               View("TEXT", TensorDType::kBytes, {1}, text.data(), text.size())});
  };
  ASSERT_TRUE(run().ok());
  ASSERT_TRUE(run().ok());
  const Status third = run().status();
  EXPECT_NE(third.message().find("counter only increases"), std::string::npos) << third.message();
  const std::string json = backend_->CustomMetrics();
  EXPECT_NE(json.find(R"("name": "unit_requests_total", "help": "Requests", "type": "counter", )"
                      R"("samples": [{"labels": {"model": "m"}, "value": 3.0}])"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("value": -2.5)"), std::string::npos) << json;
}

TEST_F(PythonBackendTest, LoadErrorsNameTheCause) {
  auto raising = backend_->Load(Config(Write("1/model.py", R"(
class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("no weights here")
)")));
  ASSERT_FALSE(raising.ok());
  EXPECT_EQ(raising.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(raising.status().message().find("RuntimeError: no weights here"), std::string::npos)
      << raising.status().message();
  auto no_class = backend_->Load(Config(Write("1/model.py", "x = 1\n")));
  ASSERT_FALSE(no_class.ok());
  EXPECT_NE(no_class.status().message().find("TritonPythonModel"), std::string::npos);
  auto syntax = backend_->Load(Config(Write("1/model.py", "def (:\n")));
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("SyntaxError"), std::string::npos)
      << syntax.status().message();
  ModelInstanceConfig gone = Config((dir_ / "m" / "1" / "absent.py").string());
  EXPECT_EQ(backend_->Load(gone).status().code(), StatusCode::kNotFound);
}

TEST_F(PythonBackendTest, HelperModulesOfTwoModelsDoNotCollide) {
  constexpr const char* kModel = R"(
import numpy as np
import helpers
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        import lazy  # imported at the first request, from this model's folder
        value = helpers.VALUE + lazy.EXTRA
        return [pb_utils.InferenceResponse([pb_utils.Tensor("Y", np.array([value], np.int64))])
                for _ in requests]
)";
  Write("1/model.py", kModel);
  Write("1/helpers.py", "VALUE = 100\n");
  Write("1/lazy.py", "EXTRA = 1\n");
  Write("../other/1/model.py", kModel);
  Write("../other/1/helpers.py", "VALUE = 200\n");
  Write("../other/1/lazy.py", "EXTRA = 2\n");
  ModelInstanceConfig a = Config((dir_ / "m" / "1" / "model.py").string());
  ModelInstanceConfig b = Config((dir_ / "other" / "1" / "model.py").string());
  a.inputs.clear();
  b.inputs.clear();
  auto first = backend_->Load(a);
  auto second = backend_->Load(b);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto value = [](ModelInstance& instance) -> int64_t {
    auto out = instance.Infer({});
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    int64_t got = -1;
    if (out.ok() && out->size() == 1) std::memcpy(&got, (*out)[0].data.data(), sizeof got);
    return got;
  };
  EXPECT_EQ(value(**first), 101);
  EXPECT_EQ(value(**second), 202);
  EXPECT_EQ(value(**first), 101);  // and again, with both lazy modules imported
}

TEST_F(PythonBackendTest, AsyncExecuteAndFinalizeRun) {
  const fs::path marker = dir_ / "finalized";
  auto instance = backend_->Load(Config(Write("1/model.py", R"(
import asyncio
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    async def execute(self, requests):
        await asyncio.sleep(0)
        return [pb_utils.InferenceResponse([pb_utils.Tensor("N", np.array([len(r.inputs())]))])
                for r in requests]

    def finalize(self):
        open(")" + marker.string() + R"(", "w").write("done")
)")));
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  const float x = 1.0f;
  const std::string text = SerializeBytes({"a"});
  auto out = (*instance)->Infer({View("X", TensorDType::kFp32, {1}, &x, 4),
                                 View("TEXT", TensorDType::kBytes, {1}, text.data(), text.size())});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].dtype, TensorDType::kInt64);
  EXPECT_FALSE(fs::exists(marker));
  instance->reset();  // unloading calls finalize
  EXPECT_TRUE(fs::exists(marker));
}

#else

TEST(PythonBackendTest, NotBuilt) {
  GTEST_SKIP() << "SKIPPED: this build has no Python backend (CPython's embedding library, "
                  "python3-dev, was not found at configure time)";
}

#endif  // MODELGRID_HAVE_PYTHON

}  // namespace
}  // namespace modelgrid
