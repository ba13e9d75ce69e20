// Sizes as people write them, read the same way everywhere a size is read (command-line
// flags, GPU specs, manifests, config.pbtxt parameters).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace modelgrid {

// The largest size ModelGrid accepts anywhere: no device or model comes near 64 TiB.
inline constexpr uint64_t kMaxByteSize = uint64_t{64} << 40;

// Parses a size: a non-negative number, optionally with a fraction, then optional spaces
// and an optional unit, case-insensitive: B; KiB, MiB, GiB, TiB (powers of 1024); KB, MB,
// GB, TB (powers of 1000). No unit means bytes. "0", "123", "85899345920B", "4 KiB",
// "1.5GB". A fraction of a byte is rounded down. Fails with kInvalidArgument, saying
// what is accepted, on anything else (signs, exponents, unknown units) and on sizes above
// `max_bytes`.
Result<uint64_t> ParseByteSize(std::string_view text, uint64_t max_bytes = kMaxByteSize);

// True when `text` ends in one of ParseByteSize's units (B, KiB, ..., TB), so that it is
// meant as a size rather than a name.
bool HasByteSizeUnit(std::string_view text);

}  // namespace modelgrid
