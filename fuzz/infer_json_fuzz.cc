// ParseInferJson against nlohmann::json::parse on arbitrary text: both must reject the
// same texts, and accept the others as the same document (dump() tells number types
// apart and prints doubles exactly). Any difference, crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/infer_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json fast = modelgrid::server::ParseInferJson(text);
  const nlohmann::json slow = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (fast.is_discarded() != slow.is_discarded()) __builtin_trap();
  if (!slow.is_discarded() && fast.dump() != slow.dump()) __builtin_trap();
  return 0;
}
