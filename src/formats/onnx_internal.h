// Private to onnx*.cc: TensorProto parsing and external-data checks, shared by the
// model parser (initializers) and attribute parsing (Constant values).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/byte_reader.h"
#include "formats/protobuf_wire.h"
#include "formats/tensor_info.h"

namespace modelgrid::onnx_internal {

inline constexpr size_t kMaxDims = 64;
inline constexpr uint64_t kMaxStringBytes = 64 * 1024;
inline constexpr size_t kMaxSmallValues = 64;  // "small" int64 / float tensors

// kCorruptData unless `f` has wire type `type`.
Status Expect(const pb::Field& f, pb::WireType type, const char* what);

// ONNX TensorProto.DataType -> DType. Types without a DType (string, 4-bit) map to
// kUnknown; `nibbles` is set for the 4-bit ones so their bytes can still be counted.
DType DTypeFromOnnx(int64_t t, bool* nibbles);

// Everything a TensorProto says about itself, before its data is checked.
struct ParsedTensor {
  TensorInfo info;
  int64_t onnx_type = 0;
  bool nibbles = false;
  bool has_raw = false;
  uint64_t raw_offset = 0;
  uint64_t raw_length = 0;
  uint64_t typed_count = 0;     // values in float_data / int32_data / int64_data / ...
  std::vector<int64_t> int64s;  // int64_data when small
  std::vector<double> floats;   // float_data / double_data when small
  std::vector<std::pair<std::string, std::string>> external;
  int64_t data_location = 0;
};

// State of one parse: the input, where external files live, and their sizes seen so far.
struct ParseContext {
  const ByteReader* reader;
  std::string base_dir;
  std::map<std::string, uint64_t> external_sizes;
};

// Reads a TensorProto's header fields; its data is located, not read.
Result<ParsedTensor> ParseTensor(pb::MessageReader msg);

// Computes the tensor's bytes, checks them against its data (inline or external), and
// reads its values when small.
Status FinishTensor(ParsedTensor* t, ParseContext* ctx);

}  // namespace modelgrid::onnx_internal
