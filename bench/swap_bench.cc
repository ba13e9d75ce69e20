// The host-memory tier's swap-in: a TorchScript model's weights copied back from host
// memory into place (ModelInstance::Unpark) against a plain memcpy of the same bytes between
// two warm buffers, measured in the same run. The copy is the limit a swap-in can reach;
// the ratio is what the work on top of it costs (on the CPU that includes faulting in the
// fresh pages the copy lands in, which the warm memcpy does not touch). Parking is measured
// too.
//
//   build/bench/swap_bench [--device=cuda:0] [--benchmark_filter=...] [REPO/NAME/1/model.pt ...]
//
// Default models: the fixtures' resnet18 (44.6 MB of FP32 weights, 102 tensors) and
// transformer (one encoder layer, 0.1 MB). On the CPU (the default) the "device" is host
// memory too, so a swap-in is a host-to-host copy and the baseline a memcpy. With
// --device=cuda:N the models load there, parking copies to pinned host memory, and the
// baseline is a copy of the same bytes from pinned host memory into a device buffer (one
// cudaMemcpy, backends/libtorch/copy_baseline.h): scripts/gpu-check.sh runs it on ResNet-50
// in fp16. That path has not run yet: no GPU machine was drawn for it.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "backends/backend.h"
#include "backends/libtorch/copy_baseline.h"
#include "ratio_reporter.h"

namespace modelgrid {
namespace {

struct Loaded {
  std::string name;
  std::unique_ptr<ModelInstance> instance;
  uint64_t bytes = 0;
  std::unique_ptr<DeviceCopy> copy;  // the baseline on a GPU (null on the CPU)
};

std::vector<Loaded>& Models() {
  static std::vector<Loaded> models;
  return models;
}

void BM_Memcpy(benchmark::State& state, const Loaded* m) {
  std::vector<char> from(m->bytes, 1), to(m->bytes, 0);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), from.size());
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m->bytes));
}

void BM_DeviceCopy(benchmark::State& state, const Loaded* m) {
  for (auto _ : state) m->copy->Run();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m->bytes));
}

void BM_Unpark(benchmark::State& state, const Loaded* m) {
  for (auto _ : state) {
    state.PauseTiming();
    if (!m->instance->Park().ok()) state.SkipWithError("park failed");
    state.ResumeTiming();
    if (!m->instance->Unpark().ok()) state.SkipWithError("unpark failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m->bytes));
}

void BM_Park(benchmark::State& state, const Loaded* m) {
  for (auto _ : state) {
    if (!m->instance->Park().ok()) state.SkipWithError("park failed");
    state.PauseTiming();
    if (!m->instance->Unpark().ok()) state.SkipWithError("unpark failed");
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * m->bytes));
}

}  // namespace
}  // namespace modelgrid

int main(int argc, char** argv) {
  using namespace modelgrid;
  benchmark::Initialize(&argc, argv);
  std::vector<std::string> paths;
  std::string device = "cpu";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--device=", 0) == 0) {
      device = arg.substr(9);
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return 2;
    } else {
      paths.push_back(arg);
    }
  }
  const bool cpu = device == "cpu";
  const std::string baseline = cpu ? "memcpy" : "h2d_copy";
  if (paths.empty()) {
    const std::string repo = std::string(MODELGRID_SOURCE_DIR) + "/.fixtures/repo/";
    paths = {repo + "resnet18/1/model.pt", repo + "transformer/1/model.pt"};
  }
  auto backend = CreateTorchBackend();
  for (const std::string& path : paths) {
    ModelInstanceConfig config;
    config.path = path;
    config.device = device;
    auto instance = backend->Load(config);
    if (!instance.ok()) {
      std::fprintf(stderr, "%s: %s%s\n", path.c_str(), instance.status().ToString().c_str(),
                   instance.status().code() == StatusCode::kNotFound
                       ? " (run scripts/make-fixtures.sh)"
                       : "");
      return 1;
    }
    Loaded m;
    m.name = std::filesystem::path(path).parent_path().parent_path().filename().string();
    m.bytes = (*instance)->Memory().weights_bytes;
    m.instance = std::move(instance).value();
    if (!cpu) {
      auto copy = DeviceCopy::Make(device, m.bytes);
      if (!copy.ok()) {
        std::fprintf(stderr, "%s\n", copy.status().ToString().c_str());
        return 1;
      }
      m.copy = std::move(copy).value();
    }
    Models().push_back(std::move(m));
  }
  for (const Loaded& m : Models()) {
    if (cpu) {
      benchmark::RegisterBenchmark(("memcpy/" + m.name).c_str(), BM_Memcpy, &m);
    } else {
      benchmark::RegisterBenchmark(("h2d_copy/" + m.name).c_str(), BM_DeviceCopy, &m);
    }
    benchmark::RegisterBenchmark(("unpark/" + m.name).c_str(), BM_Unpark, &m);
    benchmark::RegisterBenchmark(("park/" + m.name).c_str(), BM_Park, &m);
  }
  bench::RatioReporter reporter([&](const bench::RatioReporter& r) {
    std::printf("\nswap-in (unpark) and park on %s against a %s of the same bytes, same run:\n",
                device.c_str(),
                cpu ? "memcpy" : "copy from pinned host memory to the device (cudaMemcpy)");
    for (const Loaded& m : Models()) {
      const std::string copy = baseline + "/" + m.name;
      if (!r.Has(copy)) continue;
      std::printf("  %-12s %9.1f MB  unpark %.2fx %s   park %.2fx %s\n", m.name.c_str(),
                  m.bytes / 1e6, r.Time("unpark/" + m.name) / r.Time(copy), baseline.c_str(),
                  r.Time("park/" + m.name) / r.Time(copy), baseline.c_str());
    }
  });
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  Models().clear();
  return 0;
}
