// Feeds arbitrary bytes to ParseTorchArchive (zip directory, data.pkl, tensor walk, tied
// names) and to the zip reader alone. Any crash, sanitizer report, hang or unbounded allocation is
// a bug.
#include <cstddef>
#include <cstdint>

#include "formats/torch_archive.h"
#include "formats/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  modelgrid::MemoryByteReader reader(data, size);
  auto entries = modelgrid::ReadZipDirectory(reader);
  if (entries.ok()) {
    for (const auto& entry : *entries) (void)modelgrid::ReadZipEntry(reader, entry, 1 << 16);
  }
  auto archive = modelgrid::ParseTorchArchive(reader);
  if (archive.ok()) {
    (void)modelgrid::SumTensors(archive->tensors);
    (void)modelgrid::UntiedTensors(*archive);
  }
  return 0;
}
