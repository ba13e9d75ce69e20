#include "estimate/model_source.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "common/byte_reader.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torch_archive.h"
#include "formats/triton_layout.h"

namespace modelgrid {

namespace {

namespace fs = std::filesystem;

bool HasExtension(const std::string& path, std::initializer_list<const char*> exts) {
  const std::string ext = fs::path(path).extension().string();
  return std::any_of(exts.begin(), exts.end(), [&](const char* e) { return ext == e; });
}

Result<ModelSource> OpenFile(const std::string& path) {
  MG_ASSIGN_OR_RETURN(auto reader, FileByteReader::Open(path));
  char magic[4] = {0, 0, 0, 0};
  if (reader->size() >= 4) MG_RETURN_IF_ERROR(reader->ReadAt(0, 4, magic));
  ModelSource src;
  src.path = path;
  if (std::memcmp(magic, "GGUF", 4) == 0) {
    auto gguf = ParseGguf(*reader);
    if (!gguf.ok()) return gguf.status().WithContext(path);
    src.format = ModelFormat::kGguf;
    src.transformer = GgufTransformerConfig(*gguf);
    src.tensors = std::move(gguf->tensors);
    src.notes.push_back("GGUF v" + std::to_string(gguf->version) + ", " +
                        std::to_string(gguf->metadata.size()) + " metadata keys");
  } else if (std::memcmp(magic, "PK\x03\x04", 4) == 0 ||
             HasExtension(path, {".pt", ".pth", ".ts", ".bin"})) {
    auto archive = ParseTorchArchive(*reader);
    if (!archive.ok()) return archive.status().WithContext(path);
    src.format =
        archive->is_torchscript ? ModelFormat::kTorchScript : ModelFormat::kTorchCheckpoint;
    src.tensors = std::move(archive->tensors);
    src.stored_weight_bytes = archive->storage_bytes;
  } else if (HasExtension(path, {".onnx"})) {
    auto onnx = ParseOnnx(*reader, fs::path(path).parent_path().string());
    if (!onnx.ok()) return onnx.status().WithContext(path);
    src.format = ModelFormat::kOnnx;
    src.tensors = onnx->initializers;
    src.onnx = std::make_shared<OnnxModel>(std::move(onnx).value());
  } else if (HasExtension(path, {".safetensors"})) {
    auto st = ParseSafetensors(*reader);
    if (!st.ok()) return st.status().WithContext(path);
    src.format = ModelFormat::kSafetensors;
    src.tensors = std::move(st->tensors);
  } else {
    return Unsupported(path +
                       ": unrecognised model file (expected .safetensors, .gguf, "
                       ".onnx, or a PyTorch .pt/.pth/.ts zip archive)");
  }
  if (src.stored_weight_bytes == 0) src.stored_weight_bytes = SumTensors(src.tensors).bytes;
  return src;
}

// Picks the model file inside a Triton model directory: the highest numeric version
// folder, then the first known model file name in it.
Result<std::string> TritonModelFile(const std::string& dir) {
  std::error_code ec;
  const int64_t best = LatestModelVersion(dir);
  if (best < 0) return NotFound(dir + " has config.pbtxt but no numeric version folder");
  const std::string version_dir = dir + "/" + std::to_string(best);
  for (const char* file :
       {"model.pt", "model.onnx", "model.safetensors", "model.gguf", "model.pth", "model.ts"}) {
    if (fs::exists(version_dir + "/" + file, ec)) return version_dir + "/" + file;
  }
  if (fs::exists(version_dir + "/config.json", ec)) return version_dir;
  return NotFound(version_dir + " holds no model file (model.pt, model.onnx, ...)");
}

}  // namespace

const char* ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kSafetensors:
      return "safetensors";
    case ModelFormat::kHuggingFace:
      return "huggingface";
    case ModelFormat::kGguf:
      return "gguf";
    case ModelFormat::kOnnx:
      return "onnx";
    case ModelFormat::kTorchScript:
      return "torchscript";
    case ModelFormat::kTorchCheckpoint:
      return "pytorch";
  }
  return "unknown";
}

Result<ModelSource> OpenTritonModelSource(const std::string& dir, TritonModelConfig config) {
  MG_ASSIGN_OR_RETURN(std::string model_path, TritonModelFile(dir));
  MG_ASSIGN_OR_RETURN(ModelSource src, OpenModelSource(model_path));
  src.notes.push_back("Triton model directory: " + model_path);
  src.triton = std::move(config);
  return src;
}

Result<ModelSource> OpenModelSource(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(path + " does not exist");
  if (!fs::is_directory(path, ec)) return OpenFile(path);
  if (fs::exists(path + "/config.pbtxt", ec)) {
    MG_ASSIGN_OR_RETURN(std::string text,
                        ReadSmallFile(path + "/config.pbtxt", kMaxTritonConfigBytes));
    auto config = ParseTritonConfig(text);
    if (!config.ok()) return config.status().WithContext(path + "/config.pbtxt");
    return OpenTritonModelSource(path, std::move(config).value());
  }
  auto folder = ReadHfModelFolder(path);
  if (!folder.ok()) return folder.status();
  ModelSource src;
  src.path = path;
  src.format = ModelFormat::kHuggingFace;
  src.transformer = folder->config;
  src.tie_word_embeddings = folder->tie_word_embeddings;
  src.tensors = std::move(folder->tensors);
  src.stored_weight_bytes = SumTensors(src.tensors).bytes;
  src.notes.push_back(std::to_string(folder->shard_paths.size()) + " " + folder->weights_format +
                      " shard(s)");
  if (!folder->config) src.notes.push_back("no config.json: activations cannot be derived");
  return src;
}

}  // namespace modelgrid
