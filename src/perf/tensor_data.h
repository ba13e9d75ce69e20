// Tensor data for generated requests: KServe datatypes, raw bytes, JSON values.
//
// Raw data is little-endian, row-major; BOOL is one byte (0/1); BYTES elements are a
// 4-byte little-endian length followed by the bytes (the binary tensor extension layout).
// Everything here is pure and thread-safe (the random generator is the caller's).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modelgrid::perf {

struct TensorData {
  std::string name;
  std::string datatype;  // KServe datatype
  std::vector<int64_t> shape;
  std::string data;  // raw bytes, see above
};

// Bytes per element: 1 for BOOL/INT8/UINT8, 2 for FP16/BF16/..., 0 for BYTES (variable);
// nullopt for an unknown datatype.
std::optional<size_t> ElementBytes(std::string_view datatype);

// Product of the dims; kInvalidArgument for a negative dim or more than 2^40 elements.
Result<int64_t> ElementCount(const std::vector<int64_t>& shape);

enum class DataMode { kRandom, kZero };

// A tensor of `shape` filled with zeros or random values (integers 0..99, floats in [0,1),
// BOOL 0/1). BYTES cannot be generated: kUnsupported (give it with --input-data FILE).
Result<TensorData> GenerateTensor(const std::string& name, const std::string& datatype,
                                  const std::vector<int64_t>& shape, DataMode mode,
                                  std::mt19937_64& rng);

// `values` (a flat or nested JSON array) as raw bytes of `datatype`; it must hold exactly
// `count` elements, numbers in range (booleans for BOOL, strings for BYTES).
Result<std::string> JsonToRaw(const nlohmann::json& values, std::string_view datatype,
                              int64_t count);

// The flat JSON array of a tensor's elements (BYTES elements as strings).
Result<nlohmann::json> RawToJson(const TensorData& tensor);

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);
uint16_t FloatToBf16(float value);
float Bf16ToFloat(uint16_t bits);

}  // namespace modelgrid::perf
