// Which sanitizers this build runs under, for the few places that must act differently.
// AddressSanitizer reserves terabytes of shadow memory as private mappings when a process
// starts, so a process under it cannot start with an RLIMIT_DATA or RLIMIT_AS limit.
#pragma once

namespace modelgrid {

#if defined(__SANITIZE_ADDRESS__)  // g++
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace modelgrid
