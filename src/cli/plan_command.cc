#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/byte_size.h"
#include "gpu/gpu_catalog.h"
#include "gpu/inventory.h"
#include "plan/manifest.h"
#include "plan/plan_report.h"
#include "plan/planner.h"

namespace modelgrid::cli {

namespace {

struct PlanArgs {
  std::string models;
  std::string gpus;
  std::string strategy = "memory-optimized";
  std::string context_bytes;
  std::string reserve_bytes;
  std::string host_cache;
  double time_limit_seconds = 1.0;
  bool json = false;
  std::string svg;
};

int Fail(const Status& status, int code = 1) {
  std::cerr << "error: " << status.message() << "\n";
  return code;
}

int RunPlan(const PlanArgs& args) {
  PlanOptions options;
  options.time_limit_seconds = args.time_limit_seconds;
  const bool all = args.strategy == "all";
  if (!all) {
    auto strategy = ParseStrategy(args.strategy);
    if (!strategy.ok()) return Fail(strategy.status(), 2);
    options.strategy = *strategy;
  }
  if (!args.context_bytes.empty()) {
    auto bytes = ParseByteSize(args.context_bytes);
    if (!bytes.ok()) return Fail(bytes.status().WithContext("--context-bytes"), 2);
    options.context_bytes = *bytes;
  }
  if (!args.reserve_bytes.empty()) {
    auto bytes = ParseByteSize(args.reserve_bytes);
    if (!bytes.ok()) return Fail(bytes.status().WithContext("--reserve-bytes"), 2);
    options.reserve_bytes = *bytes;
  }
  if (!args.host_cache.empty()) {
    auto bytes = ParseByteSize(args.host_cache);
    if (!bytes.ok()) return Fail(bytes.status().WithContext("--host-cache"), 2);
    options.host_cache_bytes = *bytes;
  }
  auto gpus = ResolveGpus(args.gpus);
  if (!gpus.ok()) return Fail(gpus.status());
  ManifestOptions manifest;
  if (const GpuModel* model = FindGpu(gpus->front().name)) manifest.gpu = model->name;
  auto models = LoadModels(args.models, manifest);
  if (!models.ok()) return Fail(models.status());

  std::vector<Strategy> strategies = {options.strategy};
  if (all) {
    strategies = AllStrategies();
    strategies.push_back(Strategy::kConventional);
  }
  std::vector<Plan> plans;
  for (Strategy s : strategies) {
    PlanOptions o = options;
    o.strategy = s;
    auto plan = MakePlan(*models, *gpus, o);
    if (!plan.ok()) return Fail(plan.status());
    plans.push_back(std::move(plan).value());
  }
  if (!args.svg.empty()) {
    std::ofstream out(args.svg);
    out << PlansToSvg(plans);
    if (!out) return Fail(Internal("cannot write " + args.svg));
  }
  if (args.json) {
    std::cout << (all ? ComparisonToJson(plans) : PlanToJson(plans[0])).dump(2) << "\n";
  } else if (all) {
    std::cout << ComparisonTable(plans);
  } else {
    std::cout << PlanToTable(plans[0]);
  }
  return 0;
}

}  // namespace

void RegisterPlan(CLI::App& app, Handler* handler) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Pack models onto GPUs and workers without over-committing memory");
  cmd->add_option("--models", args->models,
                  "A Triton model repository, or a JSON manifest {\"models\": [...]}")
      ->required();
  cmd->add_option("--gpus", args->gpus,
                  "auto (NVML), or a spec such as 2xH100-80GB,1xL4 or 4x80GiB")
      ->required();
  cmd->add_option("--strategy", args->strategy,
                  "fill-first, balance-load, memory-optimized (default), latency-sensitive, "
                  "optimal, conventional, or all (side by side with density ratios)");
  cmd->add_option("--context-bytes", args->context_bytes,
                  "Bytes of one worker's CUDA context (default: from the GPU catalog), e.g. "
                  "686MiB; 0 when contexts are counted elsewhere");
  cmd->add_option("--reserve-bytes", args->reserve_bytes,
                  "Bytes kept free on every GPU that hosts a worker, e.g. 2GiB (default 0)");
  cmd->add_option("--host-cache", args->host_cache,
                  "Host memory for models that fit no GPU, e.g. 256GiB: they are parked there "
                  "and swapped in on request; lists each with its swap-in time over its GPU's "
                  "host link (default: none)");
  cmd->add_option("--time-limit", args->time_limit_seconds,
                  "Seconds the optimal strategy may search (default 1)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->add_option("--svg", args->svg, "Also draw the plan(s) as an SVG to this file");
  cmd->callback([args, handler] { *handler = [args] { return RunPlan(*args); }; });
}

}  // namespace modelgrid::cli
