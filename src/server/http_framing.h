// How a request's body is delimited (RFC 9112 §6): the checks that keep a request from
// being read one way here and another way by a proxy in front (request smuggling).
//
// Pure functions of the header values, with no Beast, so that they are table-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrid::server {

struct FramingError {
  int http_status;  // 400 for a malformed framing, 501 for a transfer coding not implemented
  std::string message;
};

// Checks the Transfer-Encoding field values of a request (every header line's value, in
// order; empty when there is none). `http_minor` is 0 for HTTP/1.0, 1 for HTTP/1.1. A
// request with a Transfer-Encoding is accepted only when:
//   - it is HTTP/1.1 (HTTP/1.0 has no transfer codings: §6.1 makes that framing faulty);
//   - it has no Content-Length as well (the two disagree about where the body ends);
//   - its codings end with "chunked" and name it once (otherwise the body has no end);
//   - "chunked" is its only coding: ModelGrid decodes no other (gzip, deflate, ...: 501).
std::optional<FramingError> CheckRequestFraming(
    unsigned http_minor, const std::vector<std::string_view>& transfer_encoding,
    bool has_content_length);

}  // namespace modelgrid::server
