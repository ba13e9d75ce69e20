// The CLI's subcommands. Each Register* adds one subcommand to the app and arranges for
// its handler to run when it is chosen; handlers print to stdout/stderr and return the
// process exit code (0 success, 1 bad input or failure, 2 usage error).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace modelgrid::cli {

using Handler = std::function<int()>;

// Adds `estimate` to `app`; `*handler` is set to run it when the subcommand is chosen.
void RegisterEstimate(CLI::App& app, Handler* handler);

// Adds `serve` (its workers are modelgrid-worker processes).
void RegisterServe(CLI::App& app, Handler* handler);

// Adds `plan`: packs models onto GPUs and workers (see plan/planner.h).
void RegisterPlan(CLI::App& app, Handler* handler);

// Adds `perf`: a load generator for KServe v2 servers (see perf/load_generator.h).
void RegisterPerf(CLI::App& app, Handler* handler);

// Adds `status`: a readable view of a running `modelgrid serve` (GET /v2/modelgrid/status).
void RegisterStatus(CLI::App& app, Handler* handler);

// A CLI11 transform for size flags: rewrites "64MiB" (any unit of ParseByteSize) into its
// number of bytes before the flag's own checks run, and names what is accepted otherwise.
CLI::Validator ByteSizeTransform();

// Parses "3,224,224" into dims; returns false on anything else.
bool ParseShape(const std::string& text, std::vector<int64_t>* dims);

}  // namespace modelgrid::cli
