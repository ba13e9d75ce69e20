// Feeds arbitrary bytes to the safetensors parser and, as text, to the HuggingFace
// config parser. Any crash, sanitizer report or unbounded allocation is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/hf_config.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  modelgrid::MemoryByteReader reader(data, size);
  auto file = modelgrid::ParseSafetensors(reader);
  if (file.ok()) (void)modelgrid::SumTensors(file->tensors);
  (void)modelgrid::ParseHfConfig(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
