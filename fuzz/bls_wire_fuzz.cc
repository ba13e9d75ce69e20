// BLS frames from a worker (model code runs there, so untrusted) as the server decodes
// them, and replies as a worker decodes them: any header and payload must give a value or
// an error, never a crash, an over-read or an unbounded allocation. The input's first byte
// picks where the header ends.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/bls_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = std::min<size_t>(all.size(), static_cast<size_t>(data[0]) * 4);
  const std::string_view header = all.substr(0, all.size() - cut);
  const std::string_view payload = all.substr(all.size() - cut);
  if (auto request = modelgrid::DecodeBlsRequest(header, payload); request.ok()) {
    (void)modelgrid::EncodeBlsRequest(*request);
  }
  if (auto reply = modelgrid::DecodeBlsReply(header, payload); reply.ok()) {
    (void)modelgrid::EncodeBlsReply(*reply);
  }
  return 0;
}
