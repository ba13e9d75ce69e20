// ParseInferJson: the JSON of a KServe v2 infer request, parsed faster than nlohmann alone.
//
// A JSON request spends most of its parse in the numbers of its inputs' "data" arrays
// (nlohmann lexes each one and converts it with strtod). This finds those arrays first,
// ({"inputs": [{..., "data": [numbers, possibly nested]}, ...]}), converts their numbers
// with std::from_chars, lets nlohmann parse the rest with empty arrays in their place, and
// puts the numbers back. Anything it is not sure about (escaped keys, repeated keys, a
// token that is not a plain JSON number, a number out of double's range, nesting deeper
// than 64) is left in the text for nlohmann, so the result is always what
// nlohmann::json::parse(text, nullptr, false) gives: the same values, the same number
// types (unsigned, integer or float, by nlohmann's rules), discarded for invalid JSON.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace modelgrid::server {

// `*fast`, when given, tells whether the data arrays were converted here (false: the whole
// text went to nlohmann).
nlohmann::json ParseInferJson(std::string_view text, bool* fast = nullptr);

}  // namespace modelgrid::server
