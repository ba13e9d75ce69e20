// modelgrid-worker: the only ModelGrid executable that runs model code. `modelgrid serve`
// starts one per planned worker (`serve`: models on a shared-memory segment), and the
// estimator starts one per TorchScript dry run (`dry-run`). Both give up their privileges
// before they open a model file.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "backends/backend.h"
#include "backends/libtorch/dry_run.h"
#include "estimate/dry_run_process.h"
#include "worker/privileges.h"
#include "worker/worker_loop.h"

namespace {

int Serve(const modelgrid::WorkerLoopOptions& options, const std::string& user) {
  if (modelgrid::Status st = modelgrid::DropWorkerPrivileges(user); !st.ok()) {
    std::fprintf(stderr, "worker %s: %s\n", options.name.c_str(), st.message().c_str());
    return 3;
  }
  auto backend = modelgrid::CreateTorchBackend();
  return modelgrid::RunWorker(options, *backend);
}

int DryRun(const std::string& request) {
  if (modelgrid::Status st = modelgrid::DropWorkerPrivileges(""); !st.ok()) {
    std::fprintf(stderr, "dry run: %s\n", st.message().c_str());
    return 3;
  }
  return modelgrid::ServeDryRunRequest(request, modelgrid::TorchScriptDryRun);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"modelgrid-worker: runs models for modelgrid (started by it, not by hand)"};
  app.require_subcommand(1);
  int code = 0;

  modelgrid::WorkerLoopOptions worker;
  std::string user;
  CLI::App* serve = app.add_subcommand("serve", "Serve models on a shared-memory segment");
  serve->add_option("--shm-fd", worker.shm_fd, "Shared-memory segment descriptor")->required();
  serve
      ->add_option("--doorbell-fd", worker.doorbell_fds,
                   "eventfds to ring after a reply, one per server event loop")
      ->delimiter(',');
  serve->add_option("--name", worker.name, "Worker name");
  serve
      ->add_option("--execution-threads", worker.execution_threads,
                   "Requests run at once (different model slots or instances of one)")
      ->check(CLI::Range(1, 256));
  serve->add_option("--user", user, "Run as this user when started as root");
  serve->callback([&] { code = Serve(worker, user); });

  std::string request;
  CLI::App* dry_run =
      app.add_subcommand("dry-run", "Dry-run a TorchScript model for the estimator");
  dry_run->add_option("--request", request, "The dry run's options as JSON")->required();
  dry_run->callback([&] { code = DryRun(request); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return code;
}
