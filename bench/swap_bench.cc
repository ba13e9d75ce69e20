// The host-memory tier's swap-in: a TorchScript model's weights copied back from host
// memory into place (ModelInstance::Unpark) against a plain memcpy of the same bytes between
// two warm buffers, measured in the same run. The copy is the limit a swap-in can reach;
// the ratio is what the work on top of it costs (on the CPU that includes faulting in the
// fresh pages the copy lands in, which the warm memcpy does not touch). Parking is measured
// too.
//
//   build/bench/swap_bench [--benchmark_filter=...] [MODEL.pt ...]
//
// Default models: the fixtures' resnet18 (44.6 MB of FP32 weights, 102 tensors) and
// transformer (one encoder layer, 0.1 MB). On the CPU the "device" is host memory too, so
// a swap-in here is a host-to-host copy; on a GPU it would cross PCIe (not measured here:
// this benchmark has not run on a GPU).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "backends/backend.h"
#include "ratio_reporter.h"

namespace modelgrid {
namespace {

struct Loaded {
  std::string name;
  std::unique_ptr<ModelInstance> instance;
  uint64_t bytes = 0;
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
  for (int i = 1; i < argc; ++i) paths.push_back(argv[i]);
  if (paths.empty()) {
    const std::string repo = std::string(MODELGRID_SOURCE_DIR) + "/.fixtures/repo/";
    paths = {repo + "resnet18/1/model.pt", repo + "transformer/1/model.pt"};
  }
  auto backend = CreateTorchBackend();
  for (const std::string& path : paths) {
    ModelInstanceConfig config;
    config.path = path;
    auto instance = backend->Load(config);
    if (!instance.ok()) {
      std::fprintf(stderr, "%s: %s (run scripts/make-fixtures.sh)\n", path.c_str(),
                   instance.status().ToString().c_str());
      return 1;
    }
    Loaded m;
    m.name = std::filesystem::path(path).parent_path().parent_path().filename().string();
    m.bytes = (*instance)->Memory().weights_bytes;
    m.instance = std::move(instance).value();
    Models().push_back(std::move(m));
  }
  for (const Loaded& m : Models()) {
    benchmark::RegisterBenchmark(("memcpy/" + m.name).c_str(), BM_Memcpy, &m);
    benchmark::RegisterBenchmark(("unpark/" + m.name).c_str(), BM_Unpark, &m);
    benchmark::RegisterBenchmark(("park/" + m.name).c_str(), BM_Park, &m);
  }
  bench::RatioReporter reporter([](const bench::RatioReporter& r) {
    std::printf("\nswap-in (unpark) and park against a memcpy of the same bytes, same run:\n");
    for (const Loaded& m : Models()) {
      const std::string copy = "memcpy/" + m.name;
      if (!r.Has(copy)) continue;
      std::printf("  %-12s %9.1f MB  unpark %.2fx memcpy   park %.2fx memcpy\n", m.name.c_str(),
                  m.bytes / 1e6, r.Time("unpark/" + m.name) / r.Time(copy),
                  r.Time("park/" + m.name) / r.Time(copy));
    }
  });
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  Models().clear();
  return 0;
}
