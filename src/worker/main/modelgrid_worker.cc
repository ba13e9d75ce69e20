// modelgrid-worker: the only ModelGrid executable that runs model code (TorchScript through
// LibTorch, Python models through an embedded interpreter). `modelgrid serve`
// starts one per planned worker (`serve`: models on a shared-memory segment), and the
// estimator starts one per TorchScript dry run (`dry-run`). Both give up their privileges
// before they open a model file.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "backends/backend.h"
#include "backends/libtorch/dry_run.h"
#if defined(MODELGRID_HAVE_PYTHON)
#include "backends/python/python_backend.h"
#endif
#include "estimate/dry_run_process.h"
#include "worker/backend_router.h"
#include "worker/privileges.h"
#include "worker/worker_loop.h"

namespace {

int Serve(const modelgrid::WorkerLoopOptions& options, const std::string& user) {
  if (modelgrid::Status st = modelgrid::DropWorkerPrivileges(user); !st.ok()) {
    std::fprintf(stderr, "worker %s: %s\n", options.name.c_str(), st.message().c_str());
    return 3;
  }
  modelgrid::BackendRouter backends;
  modelgrid::BlsRouter bls;  // Python models' BLS calls into the worker's models
  backends.Add("pytorch", modelgrid::CreateTorchBackend);
#if defined(MODELGRID_HAVE_PYTHON)
  backends.Add("python", [&bls] { return modelgrid::CreatePythonBackend(&bls); });
#endif
  return modelgrid::RunWorker(options, backends, &bls);
}

// A dry run's request is a few hundred bytes of options (input shapes among them).
constexpr size_t kMaxRequestBytes = size_t{1} << 20;

int DryRun(const std::string& request) {
  if (modelgrid::Status st = modelgrid::DropWorkerPrivileges(""); !st.ok()) {
    std::fprintf(stderr, "dry run: %s\n", st.message().c_str());
    return 3;
  }
  // "-": the request arrives on stdin (a spare child started before its request, see
  // WarmSandboxedDryRunner), read once the privileges are gone.
  std::string text = request;
  if (request == "-") {
    text.clear();
    char chunk[65536];
    size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof chunk, stdin)) > 0 && text.size() < kMaxRequestBytes) {
      text.append(chunk, n);
    }
  }
  return modelgrid::ServeDryRunRequest(text, modelgrid::TorchScriptDryRun);
}

// Prints {"config": JSON} (or {"error", "code"}) for `modelgrid`'s SandboxedConfigCompleter.
int AutoComplete(const std::string& model_py, const std::string& config) {
  if (modelgrid::Status st = modelgrid::DropWorkerPrivileges(""); !st.ok()) {
    std::fprintf(stderr, "auto-complete: %s\n", st.message().c_str());
    return 3;
  }
  return modelgrid::ServeSandboxedAnswer([&]() -> modelgrid::Result<nlohmann::json> {
#if defined(MODELGRID_HAVE_PYTHON)
    MG_ASSIGN_OR_RETURN(std::string completed,
                        modelgrid::AutoCompletePythonConfig(model_py, config));
    return nlohmann::json{{"config", completed}};
#else
    (void)model_py;
    (void)config;
    return modelgrid::Unsupported(
        "auto_complete_config: this modelgrid-worker is built without the Python backend");
#endif
  });
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
  serve->add_option("--bls-fd", worker.bls_fd,
                    "Socket for BLS calls into models of other workers, through the server");
  serve
      ->add_option("--execution-threads", worker.execution_threads,
                   "Requests run at once (different model slots or instances of one)")
      ->check(CLI::Range(1, 256));
  serve->add_option("--user", user, "Run as this user when started as root");
  serve->callback([&] { code = Serve(worker, user); });

  std::string request;
  CLI::App* dry_run =
      app.add_subcommand("dry-run", "Dry-run a TorchScript model for the estimator");
  dry_run
      ->add_option("--request", request, "The dry run's options as JSON; - reads them from stdin")
      ->required();
  dry_run->callback([&] { code = DryRun(request); });

  std::string model_py, partial_config;
  CLI::App* complete = app.add_subcommand(
      "auto-complete", "Run a Python model's auto_complete_config for the server (sandboxed)");
  complete->add_option("--model-py", model_py, "The model's model.py")->required();
  complete->add_option("--config", partial_config, "Its config so far, Triton's JSON form")
      ->required();
  complete->callback([&] { code = AutoComplete(model_py, partial_config); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return code;
}
