// `modelgrid perf`: a load generator for KServe v2 servers (see perf/load_generator.h).
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "client/url.h"
#include "perf/levels.h"
#include "perf/load_generator.h"
#include "perf/perf_report.h"
#ifdef MODELGRID_HAVE_GRPC
#include "perf_grpc/grpc_protocol.h"
#endif

namespace modelgrid::cli {

namespace {

struct PerfArgs {
  std::vector<std::string> models;
  bool all_models = false;
  std::string distribution = "round-robin";
  std::string url;  // default: http://127.0.0.1:8000, or 127.0.0.1:8001 for gRPC
  std::string protocol = "http";
  bool streaming = false;
  std::string concurrency = "1";
  std::string request_rate;
  double duration_s = 5;
  double warmup_s = 1;
  int64_t batch = 1;
  std::vector<std::string> shapes;
  bool binary = false;
  std::string input_data = "random";
  bool json = false;
  std::string api_key;
  int64_t timeout_ms = 30'000;
};

int UsageError(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

// Fills `options` from the arguments; "" or the usage error.
std::string BuildOptions(const PerfArgs& args, perf::PerfOptions* options) {
  if (args.protocol != "http" && args.protocol != "grpc") {
    return "-i/--protocol must be http or grpc, not \"" + args.protocol + "\"";
  }
  const bool grpc = args.protocol == "grpc";
  if (args.streaming && !grpc) return "--streaming needs -i grpc";
  if (grpc && args.binary) return "--binary is for HTTP (gRPC tensors are always raw)";
  std::string text =
      args.url.empty() ? (grpc ? "127.0.0.1:8001" : "http://127.0.0.1:8000") : args.url;
  // gRPC addresses are host:port (perf_analyzer's -u); grpc:// is taken too.
  if (grpc && text.rfind("grpc://", 0) == 0) text = "http://" + text.substr(7);
  if (grpc && text.find("://") == std::string::npos) text = "http://" + text;
  auto url = client::ParseUrl(text);
  if (!url.ok()) return url.status().message();
  options->url = *url;
  options->models = args.models;
  options->all_models = args.all_models;
  if (args.models.empty() && !args.all_models) return "give at least one -m MODEL or --all-models";
  auto distribution = perf::ParseDistribution(args.distribution);
  if (!distribution.ok()) return distribution.status().message();
  options->distribution = *distribution;
  if (!args.request_rate.empty()) {
    auto rates = perf::ParseLevels(args.request_rate, /*integers=*/false);
    if (!rates.ok()) return "--request-rate: " + rates.status().message();
    options->request_rates = *rates;
  } else {
    auto levels = perf::ParseLevels(args.concurrency, /*integers=*/true);
    if (!levels.ok()) return "--concurrency: " + levels.status().message();
    for (double v : *levels) {
      if (v > 4096) return "--concurrency: at most 4096 clients";
      options->concurrency.push_back(static_cast<int64_t>(v));
    }
  }
  for (const std::string& spec : args.shapes) {
    const size_t colon = spec.rfind(':');
    std::vector<int64_t> dims;
    if (colon == std::string::npos || colon == 0 || !ParseShape(spec.substr(colon + 1), &dims)) {
      return "bad --shape \"" + spec + "\" (expected NAME:d1,d2,...)";
    }
    options->shapes[spec.substr(0, colon)] = dims;
  }
  options->duration_s = args.duration_s;
  options->warmup_s = args.warmup_s;
  options->batch = args.batch;
  options->binary = args.binary;
  options->input_data = args.input_data;
  options->api_key = args.api_key;
  options->timeout = std::chrono::milliseconds(args.timeout_ms);
  return "";
}

int RunPerfCommand(const PerfArgs& args) {
  perf::PerfOptions options;
  if (std::string error = BuildOptions(args, &options); !error.empty()) return UsageError(error);
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty) {
    options.progress = [](const std::string& line) {
      std::cerr << "\r" << line << "\033[K" << std::flush;
    };
  }
  Result<perf::PerfResult> result = Status(StatusCode::kInternal, "no protocol");
  if (args.protocol == "grpc") {
#ifdef MODELGRID_HAVE_GRPC
    auto protocol = perf::MakeGrpcProtocol(options, args.streaming);
    result = perf::RunPerf(options, *protocol);
#else
    return UsageError("-i grpc: this build of ModelGrid has no gRPC (built without libgrpc++-dev)");
#endif
  } else {
    result = perf::RunPerf(options);
  }
  if (tty) std::cerr << "\r\033[K" << std::flush;
  if (!result.ok()) {
    std::cerr << "error: " << result.status().message() << "\n";
    return 1;
  }
  if (args.json) {
    std::cout << perf::PerfJson(*result).dump(2) << "\n";
  } else {
    std::cout << perf::PerfTable(*result);
  }
  if (result->total_successes == 0) {
    std::cerr << "error: every request failed (" << result->total_errors << " errors)\n";
    return 1;
  }
  return 0;
}

}  // namespace

void RegisterPerf(CLI::App& app, Handler* handler) {
  auto args = std::make_shared<PerfArgs>();
  CLI::App* cmd = app.add_subcommand(
      "perf", "Measure throughput and latency of a KServe v2 server (like perf_analyzer)");
  cmd->add_option("-m,--model", args->models, "Model to load (repeat, or a,b,c)")->delimiter(',');
  cmd->add_flag("--all-models", args->all_models, "Spread the load over every ready model");
  cmd->add_option("--distribution", args->distribution,
                  "How requests spread over the models: round-robin (default) or zipf:S (the "
                  "k-th model, in the order given or listed, gets a share in proportion to "
                  "1/k^S)");
  cmd->add_option("--url,-u", args->url,
                  "Server: http://HOST:PORT (default http://127.0.0.1:8000), or for gRPC "
                  "HOST:PORT (default 127.0.0.1:8001)");
  cmd->add_option("-i,--protocol", args->protocol, "http (default) or grpc, as perf_analyzer's -i");
  cmd->add_flag("--streaming", args->streaming,
                "gRPC: send each client's requests on one ModelStreamInfer stream");
  auto* concurrency = cmd->add_option(
      "--concurrency", args->concurrency,
      "Closed-loop clients: N, START:END (doubling), START:END:xF or START:END:STEP");
  cmd->add_option("--request-rate", args->request_rate,
                  "Open-loop requests per second: R or START:END[:STEP]")
      ->excludes(concurrency);
  cmd->add_option("--duration", args->duration_s, "Measured seconds per level (default 5)")
      ->check(CLI::Range(0.01, 86400.0));
  cmd->add_option("--warmup", args->warmup_s, "Unmeasured seconds before each level (default 1)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--batch", args->batch, "Size of the batch dimension (default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--shape", args->shapes,
                  "[MODEL/]INPUT:d1,d2,... for variable input dimensions (after the batch)");
  cmd->add_flag("--binary", args->binary, "Use the binary tensor extension instead of JSON");
  cmd->add_option("--input-data", args->input_data, "random (default), zero, or a JSON file");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->add_option("--api-key", args->api_key, "Bearer API key")->envname("MODELGRID_API_KEY");
  cmd->add_option("--timeout-ms", args->timeout_ms, "Per-request timeout (default 30000)")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  cmd->callback([args, handler] { *handler = [args] { return RunPerfCommand(*args); }; });
}

}  // namespace modelgrid::cli
