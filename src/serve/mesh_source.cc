#include "serve/mesh_source.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/byte_reader.h"
#include "formats/triton_layout.h"

namespace modelgrid {

namespace fs = std::filesystem;

namespace {

enum class Kind { kTorchScript, kPython };

// ModelMesh's model type names (a ServingRuntime's supportedModelFormats) ModelGrid
// serves; "" when neither the type nor the key names one.
Result<std::optional<Kind>> KindOf(const server::RuntimeModelSource& source) {
  std::string type = source.model_type;
  if (type.empty() && !source.model_key.empty()) {
    // modelKey: {"storage_key": ..., "model_type": {"name": "pytorch", "version": ...}}
    const auto key = nlohmann::json::parse(source.model_key, nullptr, false);
    if (key.is_object() && key.contains("model_type") && key["model_type"].is_object()) {
      const nlohmann::json name = key["model_type"].value("name", nlohmann::json(""));
      if (!name.is_string()) return InvalidArgument("modelKey: model_type.name must be a string");
      type = name.get<std::string>();
    }
  }
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (type.empty()) return std::optional<Kind>();
  if (type == "pytorch" || type == "pytorch_libtorch" || type == "torchscript") {
    return std::optional<Kind>(Kind::kTorchScript);
  }
  if (type == "python") return std::optional<Kind>(Kind::kPython);
  return InvalidArgument("model type '" + type +
                         "' is not served: ModelGrid serves pytorch (TorchScript) and python "
                         "(Triton Python backend) models");
}

bool IsVersionFolder(const fs::path& dir) { return LatestModelVersion(dir.string()) >= 0; }

// The single TorchScript file of a folder that holds one (model.pt first), or "".
fs::path SoleTorchFile(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "model.pt", ec)) return dir / "model.pt";
  fs::path found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".pt" && ext != ".pth" && ext != ".torchscript")) continue;
    if (!found.empty()) return {};  // several: ambiguous
    found = e.path();
  }
  return found;
}

Status Link(const fs::path& target, const fs::path& link) {
  std::error_code ec;
  fs::create_symlink(target, link, ec);
  if (ec)
    return Internal("cannot link " + link.string() + " to " + target.string() + ": " +
                    ec.message());
  return Status::Ok();
}

// Links config.pbtxt and the outputs' label files of `src` into `dst`, where the core
// reads them.
Status LinkSideFiles(const fs::path& src, const TritonModelConfig& config, const fs::path& dst) {
  std::error_code ec;
  if (fs::is_regular_file(src / "config.pbtxt", ec)) {
    MG_RETURN_IF_ERROR(Link(src / "config.pbtxt", dst / "config.pbtxt"));
  }
  for (const auto& out : config.outputs) {
    const std::string& f = out.label_filename;
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..") continue;
    if (fs::is_regular_file(src / f, ec) && !fs::exists(dst / f, ec)) {
      MG_RETURN_IF_ERROR(Link(src / f, dst / f));
    }
  }
  return Status::Ok();
}

}  // namespace

void RemoveStagedModel(const std::string& stage, const std::string& model_id) {
  if (!IsValidModelName(model_id)) return;
  std::error_code ec;
  fs::remove_all(fs::path(stage) / model_id, ec);  // removes links, never follows them
}

Result<ConfigOverride> StageModelSource(const std::string& stage,
                                        const server::RuntimeModelSource& source) {
  const std::string& id = source.model_id;
  if (!IsValidModelName(id)) {
    return InvalidArgument("modelId '" + id +
                           "' cannot name a model: use 1 to 128 of [A-Za-z0-9_.-], not . or ..");
  }
  MG_ASSIGN_OR_RETURN(std::optional<Kind> kind, KindOf(source));
  if (source.model_path.empty()) return InvalidArgument("modelPath is empty");
  std::error_code ec;
  const fs::path path = fs::canonical(source.model_path, ec);
  if (ec) return InvalidArgument("modelPath " + source.model_path + ": " + ec.message());
  const bool is_dir = fs::is_directory(path, ec);
  if (!is_dir && !fs::is_regular_file(path, ec)) {
    return InvalidArgument("modelPath " + source.model_path + " is not a file or folder");
  }
  // The config: config.pbtxt of the folder, or beside the file.
  const fs::path home = is_dir ? path : path.parent_path();
  ConfigOverride out;
  out.repository = stage;
  out.text = "modelmesh:" + path.string();
  if (fs::is_regular_file(home / "config.pbtxt", ec)) {
    auto text = ReadSmallFile((home / "config.pbtxt").string(), kMaxTritonConfigBytes);
    if (!text.ok()) return InvalidArgument(text.status().message());
    auto config = ParseTritonConfig(*text);
    if (!config.ok())
      return InvalidArgument((home / "config.pbtxt").string() + ": " + config.status().message());
    out.config = std::move(config).value();
    out.text += "|" + *text;
  } else if (kind == Kind::kPython || (!is_dir && path.extension() == ".py") ||
             (is_dir && IsPythonModelFolder(path.string()))) {
    out.config.backend = "python";  // auto_complete_config declares the rest at load
  } else {
    return InvalidArgument("modelPath " + source.model_path +
                           ": a TorchScript model needs a config.pbtxt (its inputs and outputs) "
                           "in its folder or beside its file");
  }
  out.config.name.clear();  // the model id names it
  const bool python = out.config.backend == "python";
  if (kind && (*kind == Kind::kPython) != python) {
    return InvalidArgument(
        "model type '" + source.model_type + "' does not match " +
        (python ? "the config's backend \"python\"" : "the config, which is not a Python model's"));
  }
  const std::string file_name = ModelFileName(out.config);
  // The file to serve as version 1, or none when `path` is a folder with version folders.
  fs::path file;
  if (!is_dir) {
    file = path;
  } else if (!IsVersionFolder(path)) {
    file = python ? path / file_name : SoleTorchFile(path);
    if (file.empty() || !fs::is_regular_file(file, ec)) {
      return InvalidArgument("modelPath " + source.model_path + " holds no <version>/" + file_name +
                             ", " + file_name + (python ? "" : " or single .pt file"));
    }
  }
  const fs::path staged = fs::path(stage) / id;
  RemoveStagedModel(stage, id);
  fs::create_directories(stage, ec);
  if (file.empty()) {
    MG_RETURN_IF_ERROR(Link(path, staged));
    return out;
  }
  fs::create_directories(staged, ec);
  if (ec) return Internal("cannot stage " + staged.string() + ": " + ec.message());
  if (is_dir && file.filename() == file_name) {
    // The folder is the version: a Python model's helper modules stay beside model.py.
    MG_RETURN_IF_ERROR(Link(path, staged / "1"));
  } else {
    fs::create_directories(staged / "1", ec);
    MG_RETURN_IF_ERROR(Link(file, staged / "1" / file_name));
  }
  MG_RETURN_IF_ERROR(LinkSideFiles(home, out.config, staged));
  return out;
}

}  // namespace modelgrid
