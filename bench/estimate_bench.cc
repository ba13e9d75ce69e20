// How fast `modelgrid estimate` reads big models: a sharded 70B-class safetensors folder
// (Llama-3-70B shapes, bf16, 30 shards, ~141 GB as sparse files) and a 70B-class GGUF
// (Q4_K, ~40 GB sparse). Baseline in the same run: pread of each file's header bytes, the
// I/O floor of any header-only estimator. Prints the ratio.
//
//   build/bench/estimate_bench            (the files go to $TMPDIR, removed afterwards)
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "estimate/estimator.h"
#include "ratio_reporter.h"
#include "support/gguf_builder.h"
#include "support/hf_builder.h"

namespace {

namespace fs = std::filesystem;

const fs::path& WorkDir() {
  static const fs::path dir = fs::temp_directory_path() / "modelgrid_estimate_bench";
  return dir;
}

const std::string& LlamaFolder() {
  static const std::string dir = [] {
    const std::string d = (WorkDir() / "llama70b").string();
    fs::remove_all(d);
    modelgrid::testing::WriteShardedLlama(d, 80, 8192, 64, 8, 28672, 128256, 30, "BF16");
    return d;
  }();
  return dir;
}

const std::string& LlamaGgufFile() {
  static const std::string path = [] {
    fs::create_directories(WorkDir());
    const std::string p = (WorkDir() / "llama70b-q4_k.gguf").string();
    modelgrid::testutil::LlamaGgufShape s;
    s.layers = 80;
    s.hidden = 8192;
    s.heads = 64;
    s.kv_heads = 8;
    s.ffn = 28672;
    s.vocab = 128256;
    s.context = 8192;
    std::string error;
    if (!modelgrid::testutil::LlamaGguf(s).WriteSparse(p, &error)) {
      std::fprintf(stderr, "cannot write %s: %s\n", p.c_str(), error.c_str());
    }
    return p;
  }();
  return path;
}

// Reads the first `bytes` of every file under `paths`: the header I/O floor.
void ReadHeaders(const std::vector<std::string>& paths, size_t bytes) {
  std::vector<char> buf(bytes);
  for (const auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) continue;
    benchmark::DoNotOptimize(::pread(fd, buf.data(), buf.size(), 0));
    ::close(fd);
  }
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().string());
  return out;
}

void BM_Estimate_Llama70B_Safetensors30Shards(benchmark::State& state) {
  const std::string& dir = LlamaFolder();
  modelgrid::EstimateOptions o;
  o.batch = 1;
  o.sequence = 4096;
  for (auto _ : state) {
    auto e = modelgrid::EstimatePath(dir, o);
    if (!e.ok()) state.SkipWithError(e.status().ToString().c_str());
    benchmark::DoNotOptimize(e);
  }
}

void BM_Baseline_ReadShardHeaders(benchmark::State& state) {
  const auto files = FilesIn(LlamaFolder());
  for (auto _ : state) ReadHeaders(files, 64 * 1024);
}

void BM_Estimate_Llama70B_Gguf(benchmark::State& state) {
  const std::string& path = LlamaGgufFile();
  modelgrid::EstimateOptions o;
  o.sequence = 4096;
  for (auto _ : state) {
    auto e = modelgrid::EstimatePath(path, o);
    if (!e.ok()) state.SkipWithError(e.status().ToString().c_str());
    benchmark::DoNotOptimize(e);
  }
}

void BM_Baseline_ReadGgufHeader(benchmark::State& state) {
  const std::vector<std::string> files = {LlamaGgufFile()};
  for (auto _ : state) ReadHeaders(files, 2 * 1024 * 1024);
}

BENCHMARK(BM_Estimate_Llama70B_Safetensors30Shards)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Baseline_ReadShardHeaders)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Estimate_Llama70B_Gguf)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Baseline_ReadGgufHeader)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  modelgrid::bench::RatioReporter reporter([](const modelgrid::bench::RatioReporter& r) {
    auto ratio = [&](const char* a, const char* b) {
      if (r.Has(a) && r.Has(b)) {
        std::printf("%s: %.2f ms = %.1fx the header-read baseline (%.3f ms)\n", a, r.Time(a),
                    r.Time(a) / r.Time(b), r.Time(b));
      }
    };
    ratio("BM_Estimate_Llama70B_Safetensors30Shards", "BM_Baseline_ReadShardHeaders");
    ratio("BM_Estimate_Llama70B_Gguf", "BM_Baseline_ReadGgufHeader");
  });
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  fs::remove_all(WorkDir());
  return 0;
}
