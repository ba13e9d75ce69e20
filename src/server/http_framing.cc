#include "server/http_framing.h"

#include <cctype>

namespace modelgrid::server {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The codings of the field values, in order, lower-cased, without parameters (";q=...")
// and without the empty elements that list syntax allows ("a, , b").
std::vector<std::string> Codings(const std::vector<std::string_view>& values) {
  std::vector<std::string> codings;
  for (std::string_view value : values) {
    while (true) {
      const size_t comma = value.find(',');
      std::string_view item = value.substr(0, comma);
      item = Trim(item.substr(0, item.find(';')));
      if (!item.empty()) codings.push_back(Lower(item));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return codings;
}

}  // namespace

std::optional<FramingError> CheckRequestFraming(
    unsigned http_minor, const std::vector<std::string_view>& transfer_encoding,
    bool has_content_length) {
  if (transfer_encoding.empty()) return std::nullopt;
  const std::vector<std::string> codings = Codings(transfer_encoding);
  if (http_minor == 0) {
    return FramingError{400, "Transfer-Encoding is not allowed in an HTTP/1.0 request"};
  }
  if (has_content_length) {
    return FramingError{400, "a request must not have both Transfer-Encoding and Content-Length"};
  }
  if (codings.empty() || codings.back() != "chunked") {
    return FramingError{400, "the last transfer coding of a request must be chunked"};
  }
  for (size_t i = 0; i + 1 < codings.size(); ++i) {
    if (codings[i] == "chunked") {
      return FramingError{400, "chunked is applied more than once"};
    }
  }
  if (codings.size() > 1) {
    return FramingError{
        501, "transfer coding \"" + codings.front() + "\" is not implemented; only chunked is"};
  }
  return std::nullopt;
}

}  // namespace modelgrid::server
