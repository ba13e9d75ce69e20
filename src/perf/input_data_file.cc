#include "perf/input_data_file.h"

#include <fstream>
#include <sstream>

namespace modelgrid::perf {

using nlohmann::json;

Result<std::vector<InputDataEntry>> ParseInputData(std::string_view text) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("input data is not valid JSON");
  if (!doc.is_object() || !doc.contains("data") || !doc["data"].is_array() || doc["data"].empty()) {
    return InvalidArgument("input data needs a non-empty \"data\" array");
  }
  std::vector<InputDataEntry> entries;
  for (size_t i = 0; i < doc["data"].size(); ++i) {
    const json& entry = doc["data"][i];
    const std::string where = "input data entry " + std::to_string(i);
    if (!entry.is_object() || entry.empty()) {
      return InvalidArgument(where + " is not an object of inputs");
    }
    InputDataEntry parsed;
    for (const auto& [name, value] : entry.items()) {
      InputValue v;
      if (value.is_array()) {
        v.content = value;
      } else if (value.is_object() && value.contains("content") && value["content"].is_array()) {
        v.content = value["content"];
        if (value.contains("shape")) {
          const json& shape = value["shape"];
          if (!shape.is_array())
            return InvalidArgument(where + ", input \"" + name + "\": bad shape");
          std::vector<int64_t> dims;
          for (const json& d : shape) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0) {
              return InvalidArgument(where + ", input \"" + name + "\": bad shape");
            }
            dims.push_back(d.get<int64_t>());
          }
          v.shape = std::move(dims);
        }
      } else {
        return InvalidArgument(where + ", input \"" + name +
                               "\": expected an array or {\"content\": [...], \"shape\": [...]}");
      }
      parsed.emplace(name, std::move(v));
    }
    entries.push_back(std::move(parsed));
  }
  return entries;
}

Result<std::vector<InputDataEntry>> LoadInputDataFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read input data file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto entries = ParseInputData(text.str());
  if (!entries.ok()) return entries.status().WithContext(path);
  return entries;
}

}  // namespace modelgrid::perf
