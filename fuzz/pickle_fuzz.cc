// Feeds arbitrary bytes to the restricted pickle reader and renders what it built (which
// walks shared and cyclic subtrees). Any crash, sanitizer report or hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tree = modelgrid::ParsePickle(bytes);
  if (tree.ok()) (void)modelgrid::PickleDebugString(tree->root(), 64, 4096);
  return 0;
}
