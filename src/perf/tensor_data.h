// Tensor data for generated requests, on top of the server's KServe codec
// (server/tensor_codec.h): the same datatypes, raw layout and JSON conversions.
//
// Raw data is little-endian, row-major; BOOL is one byte (0/1); BYTES elements are a
// 4-byte little-endian length followed by the bytes (the binary tensor extension layout).
// Everything here is pure and thread-safe (the random generator is the caller's).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/inference_service.h"

namespace modelgrid::perf {

// One input of a request: name, KServe datatype, shape and raw bytes.
using TensorData = server::Tensor;

// Most elements a generated or file-given tensor may have (2^40).
constexpr int64_t kMaxElements = int64_t{1} << 40;

// server::ElementCount, within kMaxElements.
Result<int64_t> ElementCount(const std::vector<int64_t>& shape);

enum class DataMode { kRandom, kZero };

// A tensor of `shape` filled with zeros or random values (integers 0..99, floats in [0,1),
// BOOL 0/1). BYTES cannot be generated: kUnsupported (give it with --input-data FILE).
Result<TensorData> GenerateTensor(const std::string& name, const std::string& datatype,
                                  const std::vector<int64_t>& shape, DataMode mode,
                                  std::mt19937_64& rng);

// `values` (a flat or nested JSON array) as raw bytes of `datatype` for `shape`
// (server::EncodeJsonData), except that BOOL also takes the integers 0 and 1, as
// perf_analyzer input files write them.
Result<std::string> JsonToRaw(const nlohmann::json& values, std::string_view datatype,
                              const std::vector<int64_t>& shape);

}  // namespace modelgrid::perf
