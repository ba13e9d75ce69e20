// Feeds arbitrary bytes to the HTTP content decoders (gzip and deflate, bounded at 1 MiB)
// and the header parsers. Any crash, sanitizer report or output past the bound is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrid::server;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  constexpr uint64_t kLimit = 1 << 20;
  for (ContentCoding c : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    auto out = Decompress(bytes, c, kLimit);
    if (out.ok() && out->size() > kLimit) std::abort();
  }
  (void)ParseContentEncoding(bytes);
  (void)PreferredCoding(bytes);
  return 0;
}
