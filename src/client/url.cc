#include "client/url.h"

#include <cctype>

namespace modelgrid::client {

namespace {

Status Bad(std::string_view text, const std::string& why) {
  return InvalidArgument("bad URL \"" + std::string(text) + "\": " + why +
                         " (expected http://host:port[/prefix] or host:port)");
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string Url::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + prefix;
}

Result<Url> ParseUrl(std::string_view text) {
  std::string_view rest = text;
  bool has_scheme = false;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    std::string scheme(rest.substr(0, sep));
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == "https") return Bad(text, "https is not supported (no TLS); use http://");
    if (scheme != "http") return Bad(text, "unsupported scheme \"" + scheme + "\"");
    rest.remove_prefix(sep + 3);
    has_scheme = true;
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Bad(text, "queries and fragments are not allowed");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return Bad(text, "user info is not allowed");

  Url url;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(text, "unclosed '[' in IPv6 host");
    url.host = std::string(authority.substr(1, close - 1));
    for (char c : url.host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return Bad(text, "bad IPv6 address");
      }
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return Bad(text, "junk after ']'");
    if (!after.empty()) port_text = after.substr(1);
    if (after.empty() && !has_scheme) return Bad(text, "missing port");
  } else {
    const size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    } else if (!has_scheme) {
      return Bad(text, "missing port");
    }
    for (char c : url.host) {
      if (!IsHostChar(c)) return Bad(text, "bad character in host");
    }
  }
  if (url.host.empty()) return Bad(text, "empty host");
  if (!port_text.empty() || authority.back() == ':') {
    if (port_text.empty() || port_text.size() > 5) return Bad(text, "bad port");
    uint32_t port = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Bad(text, "bad port");
      port = port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port == 0 || port > 65535) return Bad(text, "port outside 1..65535");
    url.port = static_cast<uint16_t>(port);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.prefix = std::string(path);
  return url;
}

}  // namespace modelgrid::client
