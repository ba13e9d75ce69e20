// Standard base64 (RFC 4648 §4, with padding), for model files sent in a load request's
// "file:" parameters (HTTP sends them as base64 text, gRPC as bytes).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelgrid {

// kInvalidArgument for characters outside the alphabet, bad padding or a length that is not
// a multiple of 4. ASCII whitespace is skipped.
Result<std::string> DecodeBase64(std::string_view text);

// The padded base64 text of `bytes`.
std::string EncodeBase64(std::string_view bytes);

}  // namespace modelgrid
