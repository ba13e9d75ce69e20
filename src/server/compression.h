// HTTP content codings for bodies: requests with Content-Encoding gzip or deflate are
// decoded (bounded: a zip bomb is bad input), and replies are compressed when the client's
// Accept-Encoding asks for it, as Triton's HTTP front end does. zlib; "deflate" is the
// zlib format (RFC 9110 §8.4.1.2), decoded leniently as zlib or gzip.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelgrid::server {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// The coding a Content-Encoding header names ("gzip", "x-gzip", "deflate", "identity", any
// case). kUnsupported naming it for anything else, or a list of codings.
Result<ContentCoding> ParseContentEncoding(std::string_view header);

// The coding a reply should use under `accept_encoding` (q-values honoured; gzip preferred
// to deflate at equal weight; kIdentity when neither is acceptable or there is no header).
ContentCoding PreferredCoding(std::string_view accept_encoding);

// Decodes `body`. kOutOfRange when it would exceed `max_bytes` (the caller answers 413);
// kInvalidArgument when it is not valid data of that coding.
Result<std::string> Decompress(std::string_view body, ContentCoding coding, uint64_t max_bytes);

// Encodes `body` (kIdentity: unchanged).
Result<std::string> Compress(std::string_view body, ContentCoding coding);

// "gzip", "deflate" or "identity".
const char* ContentCodingName(ContentCoding coding);

}  // namespace modelgrid::server
