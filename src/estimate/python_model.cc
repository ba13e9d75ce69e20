#include "estimate/python_model.h"

#include <filesystem>

#include "common/byte_reader.h"
#include "estimate/model_source.h"
#include "formats/triton_layout.h"

namespace modelgrid {

namespace {

namespace fs = std::filesystem;

// Bounds on the folder walk: model folders with more are not read further (and say so).
constexpr int kMaxWalkDepth = 4;
constexpr size_t kMaxWalkEntries = 4096;
constexpr uint64_t kMaxModelPyBytes = uint64_t{4} << 20;

bool IsWeightFile(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || ext == ".pt" || ext == ".pth" || ext == ".bin" ||
         ext == ".onnx" || ext == ".gguf";
}

// True when the source imports torch ("import torch", "from torch ...", "import torch.x").
bool ImportsTorch(const std::string& source) {
  size_t start = 0;
  while (start < source.size()) {
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    std::string line = source.substr(start, end - start);
    const size_t first = line.find_first_not_of(" \t");
    line = first == std::string::npos ? "" : line.substr(first);
    for (const char* prefix : {"import torch", "from torch"}) {
      const size_t n = std::char_traits<char>::length(prefix);
      if (line.compare(0, n, prefix) == 0 &&
          (line.size() == n || line[n] == ' ' || line[n] == '.' || line[n] == ',')) {
        return true;
      }
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

Result<PythonModelEstimate> EstimatePythonModel(const std::string& model_dir, bool host) {
  const int64_t version = LatestModelVersion(model_dir);
  if (version < 0) return NotFound(model_dir + " has no numeric version folder");
  const fs::path version_dir = fs::path(model_dir) / std::to_string(version);
  MG_ASSIGN_OR_RETURN(std::string source,
                      ReadSmallFile((version_dir / "model.py").string(), kMaxModelPyBytes));
  PythonModelEstimate e;
  e.imports_torch = ImportsTorch(source);
  std::error_code ec;
  size_t seen = 0, files = 0;
  for (auto it = fs::recursive_directory_iterator(version_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (++seen > kMaxWalkEntries) {
      e.sources.push_back("weights: stopped after " + std::to_string(kMaxWalkEntries) + " entries");
      break;
    }
    if (it.depth() >= kMaxWalkDepth) it.disable_recursion_pending();
    std::error_code fe;
    if (!it->is_regular_file(fe) || !IsWeightFile(it->path())) continue;
    ++files;
    auto opened = OpenModelSource(it->path().string());
    e.weights_bytes += opened.ok() ? opened->stored_weight_bytes : it->file_size(fe);
  }
  if (ec) return NotFound("cannot read " + version_dir.string() + ": " + ec.message());
  e.sources.push_back("weights: " + std::to_string(files) + " weight file(s) in " +
                      version_dir.string());
  e.transient_bytes =
      static_cast<uint64_t>(static_cast<double>(e.weights_bytes) * kPythonTransientFraction);
  if (host) {
    e.runtime_bytes = kPythonRuntimeBytes + (e.imports_torch ? kPythonTorchImportBytes : 0);
    e.sources.push_back(std::string("runtime: the interpreter and numpy") +
                        (e.imports_torch ? ", and torch (model.py imports it)" : "") +
                        ", measured once");
  }
  e.total_bytes = e.weights_bytes + e.transient_bytes + e.runtime_bytes;
  return e;
}

}  // namespace modelgrid
