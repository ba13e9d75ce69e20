// JSON limits: what a request body may cost before any JSON value is built from it.
//
// Parsing into a DOM costs memory per value and copying or printing that DOM recurses per
// level, so an untrusted body is scanned first, in one pass with constant memory, and
// refused when it is nested deeper or holds more values than these limits. KServe v2
// requests need a handful of levels (object, "inputs" array, input object, then one level
// per tensor dimension when "data" is nested), so the depth limit leaves room for tensors
// of rank 28; larger tensors belong in the binary tensor data extension, which costs no
// JSON value per element.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modelgrid::server {

// The deepest nesting of arrays and objects accepted in a request body.
inline constexpr int kMaxJsonDepth = 32;
// The most values (scalars, arrays and objects) accepted in one request body: 2^22, a
// 1x3x1182x1182 FP32 image in JSON. Each value costs a DOM 16 bytes or more, so this bounds
// a parse at a few hundred MiB whatever the body.
inline constexpr size_t kMaxJsonValues = size_t{1} << 22;

// Checks `text` against kMaxJsonDepth and kMaxJsonValues without building anything: Ok, or
// kInvalidArgument naming the limit passed. It does not validate the JSON otherwise (a
// parser does that afterwards), and counts values from the separators, so it may count a
// few more than a parser would but never fewer. Linear time, constant memory, thread-safe.
Status CheckJsonLimits(std::string_view text, int max_depth = kMaxJsonDepth,
                       size_t max_values = kMaxJsonValues);

// A client's value quoted in an error message: its JSON text cut to 64 characters, or just
// "an object" / "an array", so that an error never repeats a whole document back.
std::string BriefJson(const nlohmann::json& value);

}  // namespace modelgrid::server
