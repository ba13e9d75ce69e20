// modelgrid: estimate, plan and serve many models on shared GPUs.
#include <iostream>

#include "cli/commands.h"
#include "estimate/dry_run_process.h"
#include "serve/auto_complete.h"

#ifdef MODELGRID_HAVE_GRPC
#include "grpc/abseil_mutex_mode.h"
#endif

int main(int argc, char** argv) {
#ifdef MODELGRID_HAVE_GRPC
  // gRPC's locks without Debian abseil's lock-order checks (serve and perf -i grpc).
  modelgrid::rpc::TurnOffAbseilDeadlockDetection();
#endif
  CLI::App app{"ModelGrid: predict GPU memory, pack models onto GPUs, serve them"};
  app.require_subcommand(1);
  modelgrid::cli::Handler handler;
  // TorchScript estimates (estimate, plan, serve) dry-run the model in a sandboxed
  // modelgrid-worker child: this process never runs model code.
  modelgrid::DryRunSandbox sandbox;
  sandbox.worker_executable = modelgrid::DefaultWorkerExecutable();
  modelgrid::SetDryRunner(modelgrid::SandboxedDryRunner(sandbox));
  // Python models' auto_complete_config (serve) runs in the same kind of child.
  modelgrid::SetConfigCompleter(modelgrid::SandboxedConfigCompleter(sandbox));
  app.add_subcommand("version", "Print the version")->callback([&handler] {
    handler = [] {
      std::cout << "modelgrid " << MODELGRID_VERSION << "\n";
      return 0;
    };
  });
  modelgrid::cli::RegisterEstimate(app, &handler);
  modelgrid::cli::RegisterPlan(app, &handler);
  modelgrid::cli::RegisterServe(app, &handler);
  modelgrid::cli::RegisterPerf(app, &handler);
  modelgrid::cli::RegisterStatus(app, &handler);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return handler ? handler() : 0;
}
