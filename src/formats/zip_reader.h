// Zip central-directory reader for PyTorch archives (torch.save, torch.jit.save).
//
// Reads only the directory and local headers: entry names, methods, sizes and where each
// entry's data starts. Every offset and size is checked against the input, so a lying
// archive gets kCorruptData, never an out-of-bounds read or a huge allocation. Zip64 end
// records and extra fields are supported; multi-disk archives and encryption are not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_reader.h"

namespace modelgrid {

struct ZipEntry {
  std::string name;                 // full path inside the archive ("archive/data/0")
  uint16_t method = 0;              // 0 = stored, 8 = deflate, ...
  uint64_t compressed_bytes = 0;    // bytes of (possibly compressed) data in the file
  uint64_t uncompressed_bytes = 0;  // bytes after decompression
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;  // first data byte; [data_offset, +compressed_bytes) is in the file

  bool stored() const { return method == 0; }
};

struct ZipLimits {
  uint64_t max_entries = uint64_t{1} << 20;  // more entries than this is kOutOfRange
};

// Reads the central directory of the zip in `reader`. Fails with kCorruptData when there
// is no end-of-central-directory record in the last 64 KiB + 22 bytes, when a record is
// truncated or points outside the input, or when the entry count cannot fit in the
// directory's size; kOutOfRange above `limits.max_entries`; kUnsupported for multi-disk
// archives. Entries come back in directory order. Reads through `reader`, which is
// borrowed for the call only.
Result<std::vector<ZipEntry>> ReadZipDirectory(const ByteReader& reader,
                                               const ZipLimits& limits = {});

// Returns the bytes of a stored (method 0) entry, refusing entries above `max_bytes`
// (kOutOfRange) and compressed entries (kUnsupported).
Result<std::string> ReadZipEntry(const ByteReader& reader, const ZipEntry& entry,
                                 uint64_t max_bytes);

// The entry named exactly `name`, or nullptr. Linear search; the pointer borrows from
// `entries`.
const ZipEntry* FindZipEntry(const std::vector<ZipEntry>& entries, std::string_view name);

}  // namespace modelgrid
