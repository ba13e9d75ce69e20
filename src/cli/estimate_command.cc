#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "estimate/estimator.h"
#include "estimate/report.h"

namespace modelgrid::cli {

namespace {

struct EstimateArgs {
  std::string path;
  int64_t batch = 0;
  int64_t sequence = 128;
  std::string dtype;
  std::string gpu = "H100-80GB";
  std::vector<std::string> input_shapes;
  bool json = false;
};

int RunEstimate(const EstimateArgs& args) {
  EstimateOptions options;
  if (args.batch != 0) options.batch = args.batch;
  options.sequence = args.sequence;
  options.gpu = args.gpu;
  if (!args.dtype.empty()) {
    auto dtype = ParseComputeDType(args.dtype);
    if (!dtype.ok()) {
      std::cerr << "error: " << dtype.status().message() << "\n";
      return 2;
    }
    options.dtype = *dtype;
  }
  for (const auto& text : args.input_shapes) {
    std::vector<int64_t> dims;
    if (!ParseShape(text, &dims)) {
      std::cerr << "error: --input-shape '" << text << "' is not a list like 3,224,224\n";
      return 2;
    }
    options.input_shapes.push_back(dims);
  }
  auto estimate = EstimatePath(args.path, options);
  if (!estimate.ok()) {
    std::cerr << "error: " << estimate.status().message() << "\n";
    return 1;
  }
  if (args.json) {
    std::cout << EstimateToJson(*estimate).dump(2) << "\n";
  } else {
    std::cout << EstimateToTable(args.path, *estimate);
  }
  return 0;
}

}  // namespace

bool ParseShape(const std::string& text, std::vector<int64_t>* dims) {
  dims->clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(pos, comma - pos);
    if (part.empty() || part.size() > 9 ||
        part.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    const int64_t d = std::stoll(part);
    if (d <= 0) return false;
    dims->push_back(d);
    pos = comma + 1;
  }
  return !dims->empty() && dims->size() <= 8;
}

void RegisterEstimate(CLI::App& app, Handler* handler) {
  auto args = std::make_shared<EstimateArgs>();
  CLI::App* cmd =
      app.add_subcommand("estimate", "Predict the GPU memory a model needs, from its file alone");
  cmd->add_option("path", args->path,
                  "Model: .safetensors, HuggingFace folder, .gguf, .onnx, TorchScript "
                  ".pt/.pth/.ts, or a Triton model directory")
      ->required();
  cmd->add_option("--batch", args->batch, "Batch size (default: Triton max_batch_size, else 1)")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--seq", args->sequence, "Sequence length for text models")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--dtype", args->dtype,
                  "fp32|fp16|bf16|int8 (default: GGUF and TorchScript weights as stored, else "
                  "the weights' dtype)");
  cmd->add_option("--gpu", args->gpu,
                  "GPU from the catalog: H200, H100-80GB, A100-80GB, A100-40GB, L40S, L4, A10G, "
                  "T4, RTX4090; or cpu for the host (no CUDA terms)");
  cmd->add_option("--input-shape", args->input_shapes,
                  "Input shape without batch, e.g. 3,224,224 (repeat per input)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args, handler] { *handler = [args] { return RunEstimate(*args); }; });
}

}  // namespace modelgrid::cli
