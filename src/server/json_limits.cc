#include "server/json_limits.h"

#include <string>

namespace modelgrid::server {
namespace {

constexpr size_t kMaxQuotedChars = 64;

}  // namespace

std::string BriefJson(const nlohmann::json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxQuotedChars) text = text.substr(0, kMaxQuotedChars) + "...";
  return text;
}

Status CheckJsonLimits(std::string_view text, int max_depth, size_t max_values) {
  int depth = 0;
  // Every value but the first is preceded by a ',' or opens right after '[' (or is a member
  // after '{', whose key it follows): commas plus opened containers plus one bound them.
  size_t values = 1;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // whatever is escaped, it does not end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return InvalidArgument("JSON nested deeper than " + std::to_string(max_depth) +
                                 " levels (at byte " + std::to_string(i) + ")");
        }
        ++values;
        break;
      case ']':
      case '}':
        --depth;  // unbalanced text is the parser's to reject
        break;
      case ',':
        ++values;
        break;
      default:
        continue;
    }
    if (values > max_values) {
      return InvalidArgument("JSON with more than " + std::to_string(max_values) +
                             " values; send large tensors with the binary tensor data "
                             "extension (Inference-Header-Content-Length)");
    }
  }
  return Status::Ok();
}

}  // namespace modelgrid::server
