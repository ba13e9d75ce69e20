// Standard base64 (RFC 4648 §4, with padding) decoding, for model files sent in a load
// request's "file:" parameters.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelgrid {

// kInvalidArgument for characters outside the alphabet, bad padding or a length that is not
// a multiple of 4. ASCII whitespace is skipped.
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace modelgrid
