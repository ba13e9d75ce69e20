// Opens a model path of any supported format and returns what the estimator needs: the
// stored tensors and whatever describes the computation (transformer config, ONNX graph,
// TorchScript file, Triton input shapes). Reads headers only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "formats/onnx.h"
#include "formats/tensor_info.h"
#include "formats/transformer_config.h"
#include "formats/triton_config.h"

namespace modelgrid {

enum class ModelFormat { kSafetensors, kHuggingFace, kGguf, kOnnx, kTorchScript, kTorchCheckpoint };

// "safetensors", "huggingface", "gguf", "onnx", "torchscript", "pytorch".
const char* ModelFormatName(ModelFormat format);

struct ModelSource {
  std::string path;  // the file or folder the tensors came from
  ModelFormat format = ModelFormat::kSafetensors;
  std::vector<TensorInfo> tensors;   // every stored weight tensor
  uint64_t stored_weight_bytes = 0;  // bytes in the file(s); shared storages counted once
  std::optional<TransformerConfig> transformer;
  bool tie_word_embeddings = false;  // HF: lm_head shares the token embedding
  std::shared_ptr<const OnnxModel> onnx;
  std::optional<TritonModelConfig> triton;  // when PATH was a Triton model directory
  std::vector<std::string> notes;           // facts about how the source was read
};

// Detects the format of `path` (a file by magic bytes and extension; a folder by
// config.pbtxt, config.json or *.safetensors) and reads it. Errors name the path.
Result<ModelSource> OpenModelSource(const std::string& path);

// A Triton model directory whose config.pbtxt the caller already parsed into `config`:
// reads the model file of its highest version, not the config again.
Result<ModelSource> OpenTritonModelSource(const std::string& dir, TritonModelConfig config);

}  // namespace modelgrid
