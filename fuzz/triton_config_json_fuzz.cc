// Feeds arbitrary text to ParseTritonConfigJson (a load request's "config" parameter).
// Any crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/triton_config_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)modelgrid::ParseTritonConfigJson(text);
  return 0;
}
