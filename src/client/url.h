// Url: where a KServe v2 server listens, as given on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelgrid::client {

struct Url {
  std::string host;    // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 80;  // TCP port
  std::string prefix;  // path prefix before /v2/..., "" or "/a/b" (no trailing slash)

  // "http://host:port/prefix", IPv6 hosts in brackets.
  std::string ToString() const;
  // `prefix` + `path`; `path` starts with '/'.
  std::string Path(std::string_view path) const { return prefix + std::string(path); }
};

// Accepts "http://host:port[/prefix]", "http://host[/prefix]" (port 80) and "host:port";
// IPv6 hosts go in brackets ("http://[::1]:8000"). Rejects https (no TLS), other schemes,
// queries, fragments, user info, empty hosts and ports outside 1..65535 with
// kInvalidArgument and a message naming the problem. Pure; thread-safe.
Result<Url> ParseUrl(std::string_view text);

}  // namespace modelgrid::client
