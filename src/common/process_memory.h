// This process's memory, from /proc (Linux): what backends measure a CPU instance by.
#pragma once

#include <cstdint>

namespace modelgrid {

// Resident set size now, in bytes; 0 when /proc is unreadable.
uint64_t ReadRssBytes();

// Peak resident set size (VmHWM) in bytes; 0 when unreadable.
uint64_t ReadPeakRssBytes();

// Resets VmHWM to the current RSS (Linux >= 4.0); false when the kernel refuses.
bool ResetPeakRss();

// now - base, or 0 when memory shrank.
inline uint64_t Growth(uint64_t now, uint64_t base) { return now > base ? now - base : 0; }

}  // namespace modelgrid
