// ParseInferJson against nlohmann::json::parse on arbitrary text: both must reject the
// same texts, and accept the others as the same document (dump() tells number types
// apart and prints doubles exactly). CheckJsonLimits must never pass a document that
// nlohmann then finds deeper or larger than the limits. Any difference, crash or sanitizer
// report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "server/infer_json.h"
#include "server/json_limits.h"

namespace {

// The nesting depth (arrays and objects) and value count of a parsed document, walked
// without recursion.
std::pair<int, size_t> DepthAndValues(const nlohmann::json& doc) {
  std::vector<std::pair<const nlohmann::json*, int>> stack = {{&doc, 0}};
  int deepest = 0;
  size_t values = 0;
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    ++values;
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const auto& child : *node) stack.emplace_back(&child, depth + 1);
  }
  return {deepest, values};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Small limits, so that short inputs reach them.
  constexpr int kDepth = 8;
  constexpr size_t kValues = 64;
  const bool within = modelgrid::server::CheckJsonLimits(text, kDepth, kValues).ok();
  const nlohmann::json slow = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (within && !slow.is_discarded()) {
    const auto [depth, values] = DepthAndValues(slow);
    if (depth > kDepth || values > kValues) __builtin_trap();
  }
  const nlohmann::json fast = modelgrid::server::ParseInferJson(text);
  if (fast.is_discarded() != slow.is_discarded()) __builtin_trap();
  if (!slow.is_discarded() && fast.dump() != slow.dump()) __builtin_trap();
  return 0;
}
