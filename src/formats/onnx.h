// ONNX models (ModelProto, protobuf binary), read with a bounds-checked wire-format reader
// of our own: no protobuf or ONNX library is needed, so the GPU machine builds it too.
// Initializer data is never read; external data files are checked to exist and to be
// large enough for the ranges the model names.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/byte_reader.h"
#include "formats/tensor_info.h"

namespace modelgrid {

// One dimension of a value's shape: a fixed size, or a symbol ("batch", "N") or unknown.
struct OnnxDim {
  int64_t value = -1;  // >= 0 when fixed
  std::string param;   // symbolic name when not fixed (may be empty: unknown)
};

struct OnnxValueInfo {
  std::string name;
  DType dtype = DType::kUnknown;
  std::vector<OnnxDim> shape;
  bool has_shape = false;
};

struct OnnxAttribute {
  std::string name;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  // A tensor-valued attribute (Constant's "value"): dims and dtype, plus its int64 data
  // when small (at most 64 elements), for shape-carrying constants.
  std::vector<int64_t> t_dims;
  DType t_dtype = DType::kUnknown;
  std::vector<int64_t> t_int64_data;
  // Its float/double values when small (at most 64 elements): Resize scales and similar.
  std::vector<double> t_float_data;
  bool has_tensor = false;
  int32_t type = 0;  // AttributeProto.AttributeType as stored (0 when absent)
};

struct OnnxNode {
  std::string op_type;
  std::string domain;
  std::string name;
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::vector<OnnxAttribute> attributes;
  const OnnxAttribute* FindAttribute(const std::string& name) const;
};

struct OnnxModel {
  int64_t ir_version = 0;
  std::map<std::string, int64_t> opsets;  // domain ("" = ai.onnx) -> version
  std::string producer_name;
  std::vector<TensorInfo> initializers;  // weights: name, dtype, dims, bytes
  // For int64 initializers of at most 64 elements stored inline: their values (Reshape
  // shapes and similar), keyed by name.
  std::map<std::string, std::vector<int64_t>> small_int64_initializers;
  // Likewise for float/double initializers of at most 64 elements (Resize scales).
  std::map<std::string, std::vector<double>> small_float_initializers;
  std::vector<OnnxValueInfo> inputs;  // graph inputs that are not initializers
  std::vector<OnnxValueInfo> outputs;
  std::vector<OnnxValueInfo> value_infos;  // intermediate shapes when the file has them
  std::vector<OnnxNode> nodes;             // main graph, in file (topological) order
  std::vector<std::string> notes;          // what was skipped (sparse initializers, ...)
};

// The DType of an ONNX TensorProto.DataType code (Cast's "to" attribute, tensors);
// kUnknown for undefined, string, 4-bit and future codes.
DType DTypeFromOnnxCode(int64_t code);

// Parses an ONNX model from `reader`. `base_dir` is the folder of the .onnx file, used to
// resolve external data locations (which must stay inside it: no "..", no absolute
// paths). Fails with kCorruptData on malformed protobuf, truncation, or lengths that
// exceed the input, and with kNotFound when an external data file is missing. Limits:
// at most 1M nodes, 1M initializers, 64 dims per tensor, strings of 64 KiB.
Result<OnnxModel> ParseOnnx(const ByteReader& reader, const std::string& base_dir);

// Convenience: opens `path` and parses it with its folder as base_dir.
Result<OnnxModel> ParseOnnxFile(const std::string& path);

}  // namespace modelgrid
