#include "perf/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

#include "perf/input_data_file.h"

namespace modelgrid::perf {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kLateAfter = std::chrono::milliseconds(10);

struct PreparedModel {
  std::string name;
  int64_t inferences_per_request = 1;
  size_t variants = 0;  // requests encoded by the protocol, cycled through
};

Result<std::vector<PreparedModel>> Prepare(const PerfOptions& o, PerfProtocol& protocol,
                                           std::vector<std::string>* names) {
  *names = o.models;
  if (o.all_models) {
    MG_ASSIGN_OR_RETURN(*names, protocol.ListReadyModels());
  }
  if (names->empty()) return InvalidArgument("no model given: use -m MODEL or --all-models");
  DataMode mode = DataMode::kRandom;
  std::vector<InputDataEntry> entries;
  const bool from_file = o.input_data != "random" && o.input_data != "zero";
  if (o.input_data == "zero") mode = DataMode::kZero;
  if (from_file) {
    MG_ASSIGN_OR_RETURN(entries, LoadInputDataFile(o.input_data));
  }
  std::vector<PreparedModel> models;
  for (size_t i = 0; i < names->size(); ++i) {
    const std::string& name = (*names)[i];
    MG_ASSIGN_OR_RETURN(nlohmann::json metadata, protocol.ModelMetadata(name));
    MG_ASSIGN_OR_RETURN(ModelSpec spec, ResolveModel(name, metadata, o.batch, o.shapes));
    MG_ASSIGN_OR_RETURN(auto variants,
                        BuildRequestTensors(spec, mode, from_file ? &entries : nullptr, i + 1));
    PreparedModel m{name, spec.inferences_per_request, variants.size()};
    for (const auto& tensors : variants) {
      MG_RETURN_IF_ERROR(protocol.AddRequest(i, name, tensors, spec.outputs));
    }
    models.push_back(std::move(m));
  }
  return models;
}

// State shared by one level's senders; read-only but for the atomics.
struct Level {
  const std::vector<PreparedModel>* models = nullptr;
  const ModelPicker* picker = nullptr;
  const PerfOptions* options = nullptr;
  PerfProtocol* protocol = nullptr;
  bool open_loop = false;
  double rate = 0;  // open loop: requests per second
  Clock::time_point start, window_start, window_end;
  std::atomic<uint64_t> next{0};  // request sequence number: picks the model and variant
  std::atomic<int64_t> ok{0}, failed{0};
};

struct SenderResult {
  std::vector<ModelSamples> per_model;
  int64_t late = 0;
  double max_lag_ms = 0;
};

void RunSender(Level& level, SenderResult& out) {
  const std::vector<PreparedModel>& models = *level.models;
  out.per_model.resize(models.size());
  auto connection = level.protocol->Connect();
  while (true) {
    const uint64_t seq = level.next.fetch_add(1, std::memory_order_relaxed);
    Clock::time_point due{};
    if (level.open_loop) {
      due = level.start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(seq) / level.rate));
      if (due >= level.window_end) break;
      std::this_thread::sleep_until(due);
    }
    const Clock::time_point begin = Clock::now();
    if (!level.open_loop && begin >= level.window_end) break;
    const size_t m = level.picker->Pick(seq);
    const size_t variant = (seq / models.size()) % models[m].variants;
    const std::string error =
        connection.ok() ? (*connection)->Infer(m, variant) : connection.status().message();
    const Clock::time_point end = Clock::now();
    const bool ok = error.empty();
    (ok ? level.ok : level.failed).fetch_add(1, std::memory_order_relaxed);
    if (begin < level.window_start || end > level.window_end) continue;
    if (level.open_loop && begin - due > kLateAfter) {
      ++out.late;
      out.max_lag_ms =
          std::max(out.max_lag_ms, std::chrono::duration<double, std::milli>(begin - due).count());
    }
    if (ok) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(end - begin).count();
      out.per_model[m].latencies_us.push_back(
          static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
    } else {
      out.per_model[m].AddError(error);
    }
  }
}

std::string Describe(const Level& level) {
  char text[64];
  if (level.open_loop) {
    std::snprintf(text, sizeof text, "request rate %g/s", level.rate);
  } else {
    std::snprintf(text, sizeof text, "concurrency %d", static_cast<int>(level.rate));
  }
  return text;
}

LevelResult RunLevel(const PerfOptions& o, PerfProtocol& protocol,
                     const std::vector<PreparedModel>& models, bool open_loop, double value) {
  Level level;
  const ModelPicker picker(models.size(), o.distribution);
  level.models = &models;
  level.picker = &picker;
  level.options = &o;
  level.protocol = &protocol;
  level.open_loop = open_loop;
  level.rate = value;
  const int senders = open_loop ? std::clamp(static_cast<int>(std::ceil(value * 0.1)), 4, 256)
                                : static_cast<int>(value);
  level.start = Clock::now();
  level.window_start = level.start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.warmup_s));
  level.window_end = level.window_start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(o.duration_s));
  std::vector<SenderResult> results(static_cast<size_t>(senders));
  std::vector<std::thread> threads;
  for (SenderResult& r : results) threads.emplace_back([&level, &r] { RunSender(level, r); });
  for (Clock::time_point now = Clock::now(); now < level.window_end; now = Clock::now()) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(500), level.window_end - now));
    if (o.progress) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - level.start).count();
      char text[160];
      std::snprintf(text, sizeof text, "%s: %.1f/%.1fs, %lld ok, %lld errors",
                    Describe(level).c_str(), elapsed, o.warmup_s + o.duration_s,
                    static_cast<long long>(level.ok.load()),
                    static_cast<long long>(level.failed.load()));
      o.progress(text);
    }
  }
  for (std::thread& t : threads) t.join();

  LevelResult result;
  result.open_loop = open_loop;
  if (open_loop) result.request_rate = value;
  if (!open_loop) result.concurrency = static_cast<int64_t>(value);
  result.senders = senders;
  result.window_s = o.duration_s;
  ModelSamples all;
  int64_t inferences = 0;
  for (size_t m = 0; m < models.size(); ++m) {
    ModelSamples merged;
    for (SenderResult& r : results) merged.Merge(std::move(r.per_model[m]));
    ModelSamples copy = merged;
    all.Merge(std::move(copy));
    ModelLevelResult per{models[m].name,
                         Summarize(merged, models[m].inferences_per_request, o.duration_s)};
    inferences += per.summary.inferences;
    result.models.push_back(std::move(per));
  }
  result.overall = Summarize(all, 1, o.duration_s);
  result.overall.inferences = inferences;
  result.overall.inferences_per_s =
      o.duration_s > 0 ? static_cast<double>(inferences) / o.duration_s : 0;
  for (const SenderResult& r : results) {
    result.late_requests += r.late;
    result.max_lag_ms = std::max(result.max_lag_ms, r.max_lag_ms);
  }
  const int64_t sent = result.overall.successes + result.overall.errors;
  result.fell_behind = open_loop && result.late_requests * 100 > sent;
  return result;
}

}  // namespace

Result<PerfResult> RunPerf(const PerfOptions& o) {
  std::unique_ptr<PerfProtocol> http = MakeHttpProtocol(o);
  return RunPerf(o, *http);
}

Result<PerfResult> RunPerf(const PerfOptions& o, PerfProtocol& protocol) {
  if (o.concurrency.empty() && o.request_rates.empty()) {
    return InvalidArgument("no load level given");
  }
  if (!(o.duration_s > 0) || o.warmup_s < 0 || o.batch < 1) {
    return InvalidArgument("duration must be > 0, warmup >= 0 and batch >= 1");
  }
  PerfResult result;
  result.distribution = o.distribution.Name();
  MG_ASSIGN_OR_RETURN(std::vector<PreparedModel> models, Prepare(o, protocol, &result.models));
  const bool open_loop = !o.request_rates.empty();
  std::vector<double> values = o.request_rates;
  if (!open_loop) values.assign(o.concurrency.begin(), o.concurrency.end());
  for (double v : values) {
    result.levels.push_back(RunLevel(o, protocol, models, open_loop, v));
    result.total_successes += result.levels.back().overall.successes;
    result.total_errors += result.levels.back().overall.errors;
  }
  return result;
}

}  // namespace modelgrid::perf
