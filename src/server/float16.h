// Conversions between float and the two 16-bit float formats of KServe (FP16, BF16).
#pragma once

#include <cstdint>

namespace modelgrid::server {

// IEEE 754 binary16. Rounds to nearest even; values beyond the range become infinity, NaN
// stays NaN. Pure functions, thread-safe.
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);

// bfloat16 (the top 16 bits of a binary32). Rounds to nearest even; NaN stays NaN.
uint16_t FloatToBfloat16(float value);
float Bfloat16ToFloat(uint16_t bits);

}  // namespace modelgrid::server
