// Feeds arbitrary bytes to ParseGguf and, when it succeeds, to GgufTransformerConfig.
// Any crash, sanitizer report or unbounded allocation is a bug.
#include <cstddef>
#include <cstdint>

#include "formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  modelgrid::MemoryByteReader reader(data, size);
  auto file = modelgrid::ParseGguf(reader);
  if (file.ok()) {
    (void)modelgrid::GgufTransformerConfig(*file);
    for (uint32_t type : file->ggml_types) (void)modelgrid::GgmlTypeName(type);
  }
  return 0;
}
