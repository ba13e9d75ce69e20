// The LibTorch backend against references computed by Python's torch
// (scripts/fixtures/make_serve_fixtures.py writes the models and the references).
#include <gtest/gtest.h>

#if defined(MODELGRID_HAVE_TORCH)

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/backend.h"
#include "backends/libtorch/torch_backend.h"
#include "support/batch_helpers.h"
#include "support/fixtures.h"
#include "support/gpu_tolerance.h"

namespace modelgrid {
namespace {

std::vector<uint8_t> DecodeBase64(const std::string& text) {
  std::vector<uint8_t> out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) continue;  // '=' padding
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out.push_back(static_cast<uint8_t>(bits >> count));
    }
  }
  return out;
}

HostTensor TensorFromJson(const nlohmann::json& j) {
  return {j.at("name").get<std::string>(),
          ParseTensorDType(j.at("dtype").get<std::string>()).value(),
          j.at("shape").get<std::vector<int64_t>>(), DecodeBase64(j.at("data").get<std::string>())};
}

struct Reference {
  ModelInstanceConfig config;
  std::vector<HostTensor> inputs;
  std::vector<HostTensor> outputs;
  double rtol = 0, atol = 0;
};

// Reads serve/reference/<model>.json; the model path is resolved beside it.
Reference LoadReference(const std::string& json_path) {
  std::ifstream in(json_path);
  nlohmann::json j = nlohmann::json::parse(in);
  Reference ref;
  ref.config.path = testing::FixturesDir() + "/serve/" + j.at("model").get<std::string>();
  ref.config.max_batch_size = j.at("max_batch_size");
  for (const auto& spec : j.at("inputs")) {
    ref.config.inputs.push_back({spec.at("name").get<std::string>(),
                                 ParseTensorDType(spec.at("dtype").get<std::string>()).value(),
                                 spec.at("dims").get<std::vector<int64_t>>()});
  }
  for (const auto& t : j.at("input_data")) ref.inputs.push_back(TensorFromJson(t));
  for (const auto& t : j.at("output_data")) ref.outputs.push_back(TensorFromJson(t));
  for (const HostTensor& t : ref.outputs) ref.config.outputs.push_back({t.name, t.dtype, {}});
  ref.rtol = j.at("rtol");
  ref.atol = j.at("atol");
  return ref;
}

float BitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float magnitude = exponent == 0    ? std::ldexp(static_cast<float>(mantissa), -24)
                    : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                     : std::ldexp(1.0f + mantissa / 1024.0f, exponent - 15);
  return sign ? -magnitude : magnitude;
}

double ElementAt(const HostTensor& t, size_t i) {
  const uint8_t* p = t.data.data() + i * TensorDTypeSize(t.dtype);
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return static_cast<double>(v);
  };
  switch (t.dtype) {
    case TensorDType::kBool:
      return load(uint8_t{});
    case TensorDType::kUInt8:
      return load(uint8_t{});
    case TensorDType::kInt8:
      return load(int8_t{});
    case TensorDType::kInt16:
      return load(int16_t{});
    case TensorDType::kInt32:
      return load(int32_t{});
    case TensorDType::kInt64:
      return load(int64_t{});
    case TensorDType::kFp16:
      return HalfToFloat(static_cast<uint16_t>(load(uint16_t{})));
    case TensorDType::kBf16:
      return BitsToFloat(static_cast<uint32_t>(load(uint16_t{})) << 16);
    case TensorDType::kFp32:
      return load(float{});
    case TensorDType::kFp64:
      return load(double{});
    case TensorDType::kUInt16:
      return load(uint16_t{});
    case TensorDType::kUInt32:
      return load(uint32_t{});
    case TensorDType::kUInt64:
      return load(uint64_t{});
    case TensorDType::kBytes:  // no fixed-size elements
      return NAN;
  }
  return NAN;
}

// allclose: |got - want| <= atol + rtol * |want| for every element, plus names and shapes.
void ExpectAllClose(const std::vector<HostTensor>& got, const std::vector<HostTensor>& want,
                    double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < want.size(); ++k) {
    const std::string where = what + " output " + want[k].name;
    EXPECT_EQ(got[k].name, want[k].name) << where;
    ASSERT_EQ(TensorDTypeName(got[k].dtype), TensorDTypeName(want[k].dtype)) << where;
    ASSERT_EQ(got[k].shape, want[k].shape) << where;
    ASSERT_EQ(got[k].data.size(), want[k].data.size()) << where;
    const size_t n = want[k].data.size() / TensorDTypeSize(want[k].dtype);
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
      const double g = ElementAt(got[k], i), w = ElementAt(want[k], i);
      if (!(std::abs(g - w) <= atol + rtol * std::abs(w)) && bad++ < 3) {
        ADD_FAILURE() << where << " element " << i << ": " << g << " vs " << w;
      }
    }
    EXPECT_EQ(bad, 0u) << where;
  }
}

std::vector<HostTensorView> Views(const std::vector<HostTensor>& tensors) {
  std::vector<HostTensorView> views;
  for (const HostTensor& t : tensors) views.push_back(ViewOf(t));
  return views;
}

// Row `row` of a batched tensor, as a batch of one.
HostTensor Row(const HostTensor& t, int64_t row) {
  HostTensor out{t.name, t.dtype, t.shape, {}};
  out.shape[0] = 1;
  const size_t bytes = t.data.size() / static_cast<size_t>(t.shape[0]);
  out.data.assign(t.data.begin() + row * bytes, t.data.begin() + (row + 1) * bytes);
  return out;
}

std::unique_ptr<ModelInstance> MustLoad(const ModelInstanceConfig& config) {
  Result<std::unique_ptr<ModelInstance>> instance = CreateTorchBackend()->Load(config);
  EXPECT_TRUE(instance.ok()) << instance.status().ToString();
  return instance.ok() ? std::move(instance).value() : nullptr;
}

const char* kModels[] = {"add_one",  "two_in_two_out", "all_dtypes", "list_out",
                         "dict_out", "tiny_cnn",       "transformer"};

#define MG_REQUIRE_REFERENCE(ref, model)                                               \
  MG_REQUIRE_FIXTURE(ref##_json, std::string("serve/reference/") + (model) + ".json"); \
  const Reference ref = LoadReference(ref##_json)

TEST(TorchBackend, OutputsMatchPythonReference) {
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    MG_REQUIRE_REFERENCE(ref, model);
    auto instance = MustLoad(ref.config);
    ASSERT_NE(instance, nullptr);
    Result<std::vector<HostTensor>> outputs = instance->Infer(Views(ref.inputs));
    ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
    ExpectAllClose(*outputs, ref.outputs, ref.rtol, ref.atol, model);
  }
}

TEST(TorchBackend, WithoutConfigInputsArgumentsArePositionalByName) {
  MG_REQUIRE_REFERENCE(ref, "two_in_two_out");
  ModelInstanceConfig config = ref.config;
  config.inputs.clear();
  config.outputs.clear();
  auto instance = MustLoad(config);
  ASSERT_NE(instance, nullptr);
  // INPUT__1 first: the names, not the order, pick the forward arguments.
  Result<std::vector<HostTensor>> outputs =
      instance->Infer({ViewOf(ref.inputs[1]), ViewOf(ref.inputs[0])});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectAllClose(*outputs, ref.outputs, 0, 0, "two_in_two_out");
}

TEST(TorchBackend, InputsMatchForwardParameterNamesInAnyOrder) {
  MG_REQUIRE_REFERENCE(ref, "dict_out");  // forward(x, y) -> {"sum", "diff"}
  auto instance = MustLoad(ref.config);
  ASSERT_NE(instance, nullptr);
  Result<std::vector<HostTensor>> outputs =
      instance->Infer({ViewOf(ref.inputs[1]), ViewOf(ref.inputs[0])});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectAllClose(*outputs, ref.outputs, 0, 0, "dict_out");
}

TEST(TorchBackend, UnalignedInputIsCopied) {
  MG_REQUIRE_REFERENCE(ref, "add_one");
  auto instance = MustLoad(ref.config);
  ASSERT_NE(instance, nullptr);
  std::vector<uint8_t> shifted(ref.inputs[0].data.size() + 1);
  std::memcpy(shifted.data() + 1, ref.inputs[0].data.data(), ref.inputs[0].data.size());
  HostTensorView view = ViewOf(ref.inputs[0]);
  view.data = shifted.data() + 1;
  Result<std::vector<HostTensor>> outputs = instance->Infer({view});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectAllClose(*outputs, ref.outputs, 0, 0, "add_one");
}

TEST(TorchBackend, BatchOfFourEqualsFourSingleRequests) {
  MG_REQUIRE_REFERENCE(ref, "tiny_cnn");
  ASSERT_EQ(ref.inputs[0].shape[0], 4);
  auto instance = MustLoad(ref.config);
  ASSERT_NE(instance, nullptr);
  std::vector<std::vector<HostTensor>> singles;
  std::vector<std::vector<HostTensorView>> requests;
  std::vector<std::vector<HostTensor>> single_outputs;
  for (int64_t r = 0; r < 4; ++r) singles.push_back({Row(ref.inputs[0], r)});
  for (const auto& single : singles) {
    requests.push_back(Views(single));
    Result<std::vector<HostTensor>> out = instance->Infer(requests.back());
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    single_outputs.push_back(std::move(out).value());
  }
  Result<testing::BatchedInputs> batched = testing::ConcatenateBatch(requests);
  ASSERT_TRUE(batched.ok()) << batched.status().ToString();
  EXPECT_EQ(batched->batch_sizes, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(batched->inputs[0].data, ref.inputs[0].data);
  Result<std::vector<HostTensor>> out = instance->Infer(Views(batched->inputs));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectAllClose(*out, ref.outputs, ref.rtol, ref.atol, "batched");
  Result<std::vector<std::vector<HostTensor>>> split =
      testing::SplitBatch(*out, batched->batch_sizes);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->size(), 4u);
  for (size_t r = 0; r < 4; ++r) {
    ExpectAllClose((*split)[r], single_outputs[r], 1e-5, 1e-6, "request " + std::to_string(r));
  }
}

TEST(TorchBackend, BatchingHelpersRejectMismatchedRequests) {
  HostTensor a{"x", TensorDType::kFp32, {1, 3}, std::vector<uint8_t>(12)};
  HostTensor b{"x", TensorDType::kFp32, {1, 4}, std::vector<uint8_t>(16)};
  HostTensor c{"x", TensorDType::kInt32, {1, 3}, std::vector<uint8_t>(12)};
  EXPECT_EQ(testing::ConcatenateBatch({{ViewOf(a)}, {ViewOf(b)}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::ConcatenateBatch({{ViewOf(a)}, {ViewOf(c)}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::ConcatenateBatch({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::SplitBatch({a}, {2, 1}).status().code(), StatusCode::kInvalidArgument);
}

// Expects kInvalidArgument whose message names `name`.
void ExpectRejected(ModelInstance& instance, const std::vector<HostTensorView>& inputs,
                    const std::string& name) {
  Result<std::vector<HostTensor>> out = instance.Infer(inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
  EXPECT_NE(out.status().message().find(name), std::string::npos) << out.status().ToString();
}

TEST(TorchBackend, RejectsWrongDtypeShapeCountAndBatch) {
  MG_REQUIRE_REFERENCE(ref, "two_in_two_out");  // INT64 [B, 4], FP32 [B, 4], max batch 8
  auto instance = MustLoad(ref.config);
  ASSERT_NE(instance, nullptr);
  const HostTensor& a = ref.inputs[0];
  const HostTensor& b = ref.inputs[1];
  HostTensor wrong_dtype{b.name, TensorDType::kFp64, b.shape,
                         std::vector<uint8_t>(b.data.size() * 2)};
  ExpectRejected(*instance, {ViewOf(a), ViewOf(wrong_dtype)}, "INPUT__1");
  HostTensor wrong_shape{a.name, a.dtype, {a.shape[0], 5}, std::vector<uint8_t>(a.shape[0] * 40)};
  ExpectRejected(*instance, {ViewOf(wrong_shape), ViewOf(b)}, "INPUT__0");
  HostTensor no_batch{a.name, a.dtype, {4}, std::vector<uint8_t>(32)};
  ExpectRejected(*instance, {ViewOf(no_batch), ViewOf(b)}, "INPUT__0");
  ExpectRejected(*instance, {ViewOf(a)}, "inputs");
  ExpectRejected(*instance, {ViewOf(a), ViewOf(b), ViewOf(b)}, "inputs");
  HostTensor unknown = b;
  unknown.name = "INPUT__7";
  ExpectRejected(*instance, {ViewOf(a), ViewOf(unknown)}, "INPUT__7");
  HostTensorView short_bytes = ViewOf(b);
  short_bytes.byte_size -= 4;
  ExpectRejected(*instance, {ViewOf(a), short_bytes}, "INPUT__1");
  HostTensor other_batch{b.name, b.dtype, {1, 4}, std::vector<uint8_t>(16)};
  ExpectRejected(*instance, {ViewOf(a), ViewOf(other_batch)}, "INPUT__1");
  HostTensor big_a{a.name, a.dtype, {9, 4}, std::vector<uint8_t>(9 * 32)};
  HostTensor big_b{b.name, b.dtype, {9, 4}, std::vector<uint8_t>(9 * 16)};
  ExpectRejected(*instance, {ViewOf(big_a), ViewOf(big_b)}, "max_batch_size");
  // The instance still serves after the errors.
  EXPECT_TRUE(instance->Infer(Views(ref.inputs)).ok());
}

TEST(TorchBackend, LoadErrors) {
  auto backend = CreateTorchBackend();
  EXPECT_EQ(backend->Name(), "pytorch");
  ModelInstanceConfig missing;
  missing.path = "/nonexistent/model.pt";
  EXPECT_EQ(backend->Load(missing).status().code(), StatusCode::kNotFound);

  const std::string junk = ::testing::TempDir() + "/not_torchscript.pt";
  std::ofstream(junk) << "not a zip archive";
  ModelInstanceConfig bad;
  bad.path = junk;
  Result<std::unique_ptr<ModelInstance>> loaded = backend->Load(bad);
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << loaded.status().ToString();

  MG_REQUIRE_REFERENCE(ref, "two_in_two_out");
  ModelInstanceConfig too_many = ref.config;
  too_many.inputs.push_back({"INPUT__2", TensorDType::kFp32, {1}});
  EXPECT_EQ(backend->Load(too_many).status().code(), StatusCode::kInvalidArgument);
  ModelInstanceConfig bad_device = ref.config;
  bad_device.device = "gpu7";
  EXPECT_FALSE(backend->Load(bad_device).ok());
}

TEST(TorchBackend, CudaWithoutGpuIsUnavailable) {
  if (TorchCudaAvailable()) GTEST_SKIP() << "SKIPPED: CUDA is available on this machine";
  MG_REQUIRE_REFERENCE(ref, "add_one");
  ModelInstanceConfig config = ref.config;
  config.device = "cuda:0";
  Result<std::unique_ptr<ModelInstance>> loaded = CreateTorchBackend()->Load(config);
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnavailable) << loaded.status().ToString();
  EXPECT_NE(loaded.status().message().find("CUDA"), std::string::npos);
}

TEST(TorchBackend, OutputDtypeDisagreeingWithConfigIsAnError) {
  MG_REQUIRE_REFERENCE(ref, "add_one");
  ModelInstanceConfig config = ref.config;
  config.outputs[0].dtype = TensorDType::kInt64;
  auto instance = MustLoad(config);
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(instance->Infer(Views(ref.inputs)).status().code(), StatusCode::kInternal);
}

TEST(TorchBackend, WarmUpReturnsStats) {
  MG_REQUIRE_REFERENCE(ref, "tiny_cnn");
  auto instance = MustLoad(ref.config);
  ASSERT_NE(instance, nullptr);
  Result<MemoryStats> stats = instance->WarmUp();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  // conv 8x3x3x3 + 8, linear 10x2048 + 10, FP32.
  EXPECT_EQ(stats->weights_bytes, (8u * 27 + 8 + 10 * 2048 + 10) * 4);
  EXPECT_FALSE(stats->source.empty());
  EXPECT_GE(stats->peak_bytes, stats->allocated_bytes);
  EXPECT_EQ(instance->Memory().weights_bytes, stats->weights_bytes);

  ModelInstanceConfig no_inputs = ref.config;
  no_inputs.inputs.clear();
  auto unconfigured = MustLoad(no_inputs);
  ASSERT_NE(unconfigured, nullptr);
  EXPECT_EQ(unconfigured->WarmUp().status().code(), StatusCode::kInvalidArgument);
}

TEST(TorchBackend, AParkedModelAnswersTheSameOnceUnparked) {
  for (const char* model : {"tiny_cnn", "transformer"}) {
    SCOPED_TRACE(model);
    MG_REQUIRE_REFERENCE(ref, model);
    auto instance = MustLoad(ref.config);
    ASSERT_NE(instance, nullptr);
    const uint64_t weights = instance->Memory().weights_bytes;
    Result<uint64_t> parked = instance->Park();
    ASSERT_TRUE(parked.ok()) << parked.status().ToString();
    EXPECT_EQ(*parked, weights);  // every storage once
    EXPECT_EQ(instance->Park().status().code(), StatusCode::kInvalidArgument);
    Result<std::vector<HostTensor>> refused = instance->Infer(Views(ref.inputs));
    EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
    for (int round = 0; round < 2; ++round) {  // parked twice: nothing is lost on the way
      Result<uint64_t> back = instance->Unpark();
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, weights);
      Result<std::vector<HostTensor>> outputs = instance->Infer(Views(ref.inputs));
      ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
      ExpectAllClose(*outputs, ref.outputs, ref.rtol, ref.atol, model);
      if (round == 0) {
        ASSERT_TRUE(instance->Park().ok());
      }
    }
    EXPECT_EQ(instance->Unpark().status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(TorchBackend, MemoryLimitOnCpu) {
  MG_REQUIRE_REFERENCE(ref, "tiny_cnn");
  ModelInstanceConfig small = ref.config;
  small.memory_limit_bytes = 1000;  // below the 82 KB of weights
  EXPECT_EQ(CreateTorchBackend()->Load(small).status().code(), StatusCode::kResourceExhausted);

  MG_REQUIRE_REFERENCE(add, "add_one");  // FP32 [B, -1], no weights
  ModelInstanceConfig capped = add.config;
  capped.memory_limit_bytes = 1000;
  auto instance = MustLoad(capped);
  ASSERT_NE(instance, nullptr);
  HostTensor small_input{"INPUT__0", TensorDType::kFp32, {1, 10}, std::vector<uint8_t>(40)};
  EXPECT_TRUE(instance->Infer({ViewOf(small_input)}).ok());
  HostTensor big_input{"INPUT__0", TensorDType::kFp32, {8, 100}, std::vector<uint8_t>(3200)};
  EXPECT_EQ(instance->Infer({ViewOf(big_input)}).status().code(), StatusCode::kResourceExhausted);
}

// ---------------------------------------------------------------------------------------
// CUDA: these run where LibTorch sees a GPU (scripts/gpu-check.sh) and skip loudly elsewhere.

#define MG_REQUIRE_CUDA()                                                          \
  if (!TorchCudaAvailable()) {                                                     \
    GTEST_SKIP() << "SKIPPED: no CUDA device visible to LibTorch on this machine"; \
  }

TEST(TorchBackend, CudaOutputsMatchPythonReference) {
  MG_REQUIRE_CUDA();
  bool own_stream = false;  // every other model on a stream of its own
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    MG_REQUIRE_REFERENCE(ref, model);
    ModelInstanceConfig config = ref.config;
    config.device = "cuda:0";
    config.own_stream = own_stream = !own_stream;
    auto instance = MustLoad(config);
    ASSERT_NE(instance, nullptr);
    Result<std::vector<HostTensor>> outputs = instance->Infer(Views(ref.inputs));
    ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
    ExpectAllClose(*outputs, ref.outputs, testing::GpuTolerance(ref.rtol),
                   testing::GpuTolerance(ref.atol), model);
  }
}

TEST(TorchBackend, CudaWarmUpMeasuresTheCachingAllocator) {
  MG_REQUIRE_CUDA();
  if (!TorchCudaStatsCompiledIn()) {
    GTEST_SKIP() << "SKIPPED: a GPU is visible but this build lacks MODELGRID_TORCH_CUDA";
  }
  MG_REQUIRE_REFERENCE(ref, "transformer");
  ModelInstanceConfig config = ref.config;
  config.device = "cuda:0";
  auto instance = MustLoad(config);
  ASSERT_NE(instance, nullptr);
  Result<MemoryStats> stats = instance->WarmUp();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->source, "cuda caching allocator");
  EXPECT_GT(stats->weights_bytes, 0u);
  // The weights live in the allocator (whose totals cover the whole process); the instance's
  // own peak holds its weights and the warm-up's activations on top.
  EXPECT_GE(stats->allocated_bytes, stats->weights_bytes);
  EXPECT_GT(stats->peak_bytes, stats->weights_bytes);
  EXPECT_GE(stats->reserved_bytes, stats->allocated_bytes);
  std::cerr << "[          ] transformer on cuda:0: weights " << stats->weights_bytes
            << " B, allocated " << stats->allocated_bytes << " B, warm-up peak "
            << stats->peak_bytes << " B, reserved " << stats->reserved_bytes << " B\n";
}

// Last in this file: the cap is the process's allocator fraction of the device, so the test
// lifts it again at the end for whatever runs after it in the same process.
TEST(TorchBackend, CudaMemoryLimitFailsTheOneRequestThatExceedsIt) {
  MG_REQUIRE_CUDA();
  if (!TorchCudaStatsCompiledIn()) {
    GTEST_SKIP() << "SKIPPED: a GPU is visible but this build lacks MODELGRID_TORCH_CUDA";
  }
  MG_REQUIRE_REFERENCE(add, "add_one");  // FP32 [B, -1] -> x + 1, no weights
  ModelInstanceConfig capped = add.config;
  capped.device = "cuda:0";
  // The cap bounds everything this process's allocator holds on the device, which includes
  // what earlier tests left there (cuBLAS keeps a workspace per stream): 64 MiB on top.
  auto probe = MustLoad(capped);
  ASSERT_NE(probe, nullptr);
  capped.memory_limit_bytes = probe->Memory().reserved_bytes + (64ull << 20);
  auto instance = MustLoad(capped);
  ASSERT_NE(instance, nullptr);
  HostTensor small_input{"INPUT__0", TensorDType::kFp32, {1, 1024}, std::vector<uint8_t>(4096)};
  EXPECT_TRUE(instance->Infer({ViewOf(small_input)}).ok());
  // 8 x 4M floats: 128 MiB in and 128 MiB out, over the 64 MiB of room.
  HostTensor big_input{
      "INPUT__0", TensorDType::kFp32, {8, 4 << 20}, std::vector<uint8_t>(128ull << 20)};
  Result<std::vector<HostTensor>> refused = instance->Infer({ViewOf(big_input)});
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << refused.status().ToString();
  // The instance lives on and serves requests that fit.
  Result<std::vector<HostTensor>> after = instance->Infer({ViewOf(small_input)});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(ElementAt((*after)[0], 0), 1.0);

  ModelInstanceConfig uncapped = capped;
  uncapped.memory_limit_bytes = 1ull << 62;  // a fraction of 1: the whole device again
  EXPECT_NE(MustLoad(uncapped), nullptr);
}

}  // namespace
}  // namespace modelgrid

#else  // !MODELGRID_HAVE_TORCH

TEST(TorchBackend, SkippedWithoutLibTorch) {
  GTEST_SKIP() << "SKIPPED: built without LibTorch; the LibTorch backend is not tested";
}

#endif  // MODELGRID_HAVE_TORCH
