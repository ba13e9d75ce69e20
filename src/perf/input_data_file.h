// --input-data FILE for `modelgrid perf`, in perf_analyzer's format:
//   {"data": [{"INPUT0": [1, 2, 3], "INPUT1": {"content": [...], "shape": [1, 3]}}, ...]}
// Each entry gives one request's inputs; requests cycle through the entries.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modelgrid::perf {

struct InputValue {
  nlohmann::json content;                     // a flat or nested array of values
  std::optional<std::vector<int64_t>> shape;  // the full shape, when the file gives one
};

// Input name -> value, for one request.
using InputDataEntry = std::map<std::string, InputValue>;

// Parses the file's text. kInvalidArgument, naming the entry and input, for: not JSON, no
// non-empty "data" array, an entry that is not an object, a value that is neither an
// array nor an object with a "content" array, a bad "shape". Pure.
Result<std::vector<InputDataEntry>> ParseInputData(std::string_view text);

// Reads and parses `path`; kNotFound when it cannot be read. Errors name the file.
Result<std::vector<InputDataEntry>> LoadInputDataFile(const std::string& path);

}  // namespace modelgrid::perf
