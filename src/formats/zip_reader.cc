#include "formats/zip_reader.h"

#include <algorithm>
#include <cstring>

namespace modelgrid {

namespace {

constexpr uint32_t kEocdSignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EocdSignature = 0x06064b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr uint64_t kEocdBytes = 22;
constexpr uint64_t kZip64LocatorBytes = 20;
constexpr uint64_t kZip64EocdBytes = 56;
constexpr uint64_t kCentralHeaderBytes = 46;
constexpr uint64_t kLocalHeaderBytes = 30;
constexpr uint64_t kMaxCommentBytes = 0xFFFF;
// The central directory is read into memory in one piece; no real archive comes close.
constexpr uint64_t kMaxCentralDirectoryBytes = uint64_t{512} << 20;

uint16_t Le16(const char* p) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
uint32_t Le32(const char* p) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
}
uint64_t Le64(const char* p) { return uint64_t{Le32(p)} | (uint64_t{Le32(p + 4)} << 32); }

// Where the central directory lives, from the (zip64) end record.
struct DirectoryLocation {
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
  uint64_t end = 0;  // first byte after which the directory may not extend
};

Status ReadZip64End(const ByteReader& reader, uint64_t eocd_pos, DirectoryLocation* loc) {
  if (eocd_pos < kZip64LocatorBytes) return Status::Ok();
  char locator[kZip64LocatorBytes];
  MG_RETURN_IF_ERROR(reader.ReadAt(eocd_pos - kZip64LocatorBytes, sizeof locator, locator));
  if (Le32(locator) != kZip64LocatorSignature) return Status::Ok();
  uint64_t record_pos = Le64(locator + 8);
  if (Le32(locator + 16) > 1) return Unsupported("zip: multi-disk archives are not supported");
  if (!reader.Contains(record_pos, kZip64EocdBytes) ||
      record_pos + kZip64EocdBytes > eocd_pos - kZip64LocatorBytes) {
    return CorruptData("zip: zip64 end record at " + std::to_string(record_pos) +
                       " lies outside the file");
  }
  char record[kZip64EocdBytes];
  MG_RETURN_IF_ERROR(reader.ReadAt(record_pos, sizeof record, record));
  if (Le32(record) != kZip64EocdSignature) return CorruptData("zip: bad zip64 end record");
  if (Le32(record + 16) != 0 || Le32(record + 20) != 0) {
    return Unsupported("zip: multi-disk archives are not supported");
  }
  loc->entries = Le64(record + 32);
  loc->size = Le64(record + 40);
  loc->offset = Le64(record + 48);
  loc->end = record_pos;
  return Status::Ok();
}

Result<DirectoryLocation> FindDirectory(const ByteReader& reader) {
  const uint64_t size = reader.size();
  if (size < kEocdBytes) return CorruptData("zip: file too small to be an archive");
  const uint64_t tail_bytes = std::min(size, kEocdBytes + kMaxCommentBytes);
  const uint64_t tail_pos = size - tail_bytes;
  std::string tail(tail_bytes, '\0');
  MG_RETURN_IF_ERROR(reader.ReadAt(tail_pos, tail_bytes, tail.data()));
  // Scan backwards: the last signature whose comment fits the file is the end record.
  for (uint64_t i = tail_bytes - kEocdBytes + 1; i-- > 0;) {
    const char* p = tail.data() + i;
    if (Le32(p) != kEocdSignature) continue;
    if (i + kEocdBytes + Le16(p + 20) > tail_bytes) continue;
    const uint64_t eocd_pos = tail_pos + i;
    if (Le16(p + 4) != 0 || Le16(p + 6) != 0) {
      return Unsupported("zip: multi-disk archives are not supported");
    }
    DirectoryLocation loc;
    loc.entries = Le16(p + 10);
    loc.size = Le32(p + 12);
    loc.offset = Le32(p + 16);
    loc.end = eocd_pos;
    MG_RETURN_IF_ERROR(ReadZip64End(reader, eocd_pos, &loc));
    return loc;
  }
  return CorruptData("zip: no end-of-central-directory record (not a zip archive)");
}

// Replaces saturated 32-bit fields with their values from the zip64 extra field.
Status ApplyZip64Extra(std::string_view extra, ZipEntry* entry, bool need_u, bool need_c,
                       bool need_offset) {
  size_t pos = 0;
  while (pos + 4 <= extra.size()) {
    uint16_t id = Le16(extra.data() + pos);
    uint16_t len = Le16(extra.data() + pos + 2);
    pos += 4;
    if (pos + len > extra.size()) return CorruptData("zip: extra field overruns its header");
    if (id == 0x0001) {
      std::string_view field = extra.substr(pos, len);
      size_t at = 0;
      auto take = [&](uint64_t* out) -> Status {
        if (at + 8 > field.size()) return CorruptData("zip: zip64 extra field too short");
        *out = Le64(field.data() + at);
        at += 8;
        return Status::Ok();
      };
      if (need_u) MG_RETURN_IF_ERROR(take(&entry->uncompressed_bytes));
      if (need_c) MG_RETURN_IF_ERROR(take(&entry->compressed_bytes));
      if (need_offset) MG_RETURN_IF_ERROR(take(&entry->local_header_offset));
      return Status::Ok();
    }
    pos += len;
  }
  if (need_u || need_c || need_offset) return CorruptData("zip: missing zip64 extra field");
  return Status::Ok();
}

// Parses the central header at `*pos` of `dir` and advances past it.
Result<ZipEntry> ParseCentralHeader(std::string_view dir, uint64_t* pos) {
  if (dir.size() - *pos < kCentralHeaderBytes) {
    return CorruptData("zip: central directory truncated");
  }
  const char* h = dir.data() + *pos;
  if (Le32(h) != kCentralSignature) {
    return CorruptData("zip: bad central header signature at directory offset " +
                       std::to_string(*pos));
  }
  ZipEntry entry;
  entry.method = Le16(h + 10);
  uint32_t csize = Le32(h + 20), usize = Le32(h + 24), offset = Le32(h + 42);
  entry.compressed_bytes = csize;
  entry.uncompressed_bytes = usize;
  entry.local_header_offset = offset;
  const uint64_t name_len = Le16(h + 28), extra_len = Le16(h + 30), comment_len = Le16(h + 32);
  const uint64_t total = kCentralHeaderBytes + name_len + extra_len + comment_len;
  if (dir.size() - *pos < total) return CorruptData("zip: central header overruns directory");
  entry.name.assign(h + kCentralHeaderBytes, name_len);
  std::string_view extra(h + kCentralHeaderBytes + name_len, extra_len);
  MG_RETURN_IF_ERROR(
      ApplyZip64Extra(extra, &entry, usize == 0xFFFFFFFF, csize == 0xFFFFFFFF, offset == 0xFFFFFFFF)
          .WithContext(entry.name));
  *pos += total;
  return entry;
}

// Finds where the entry's data begins from its local header and checks it is in the file.
Status ResolveDataOffset(const ByteReader& reader, ZipEntry* entry) {
  char h[kLocalHeaderBytes];
  if (!reader.Contains(entry->local_header_offset, kLocalHeaderBytes)) {
    return CorruptData("zip: local header of " + entry->name + " lies outside the file");
  }
  MG_RETURN_IF_ERROR(reader.ReadAt(entry->local_header_offset, kLocalHeaderBytes, h));
  if (Le32(h) != kLocalSignature) {
    return CorruptData("zip: bad local header signature for " + entry->name);
  }
  entry->data_offset = entry->local_header_offset + kLocalHeaderBytes + Le16(h + 26) + Le16(h + 28);
  if (!reader.Contains(entry->data_offset, entry->compressed_bytes)) {
    return CorruptData("zip: data of " + entry->name + " (" +
                       std::to_string(entry->compressed_bytes) + " bytes at " +
                       std::to_string(entry->data_offset) + ") lies outside the file");
  }
  if (entry->stored() && entry->compressed_bytes != entry->uncompressed_bytes) {
    return CorruptData("zip: stored entry " + entry->name + " has different sizes");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<ZipEntry>> ReadZipDirectory(const ByteReader& reader, const ZipLimits& limits) {
  MG_ASSIGN_OR_RETURN(DirectoryLocation loc, FindDirectory(reader));
  if (loc.offset > loc.end || loc.size > loc.end - loc.offset) {
    return CorruptData("zip: central directory (" + std::to_string(loc.size) + " bytes at " +
                       std::to_string(loc.offset) + ") lies outside the file");
  }
  if (loc.entries > limits.max_entries) {
    return OutOfRange("zip: " + std::to_string(loc.entries) + " entries, more than the limit of " +
                      std::to_string(limits.max_entries));
  }
  if (loc.entries > loc.size / kCentralHeaderBytes) {
    return CorruptData("zip: " + std::to_string(loc.entries) + " entries cannot fit in a " +
                       std::to_string(loc.size) + "-byte central directory");
  }
  MG_ASSIGN_OR_RETURN(std::string dir, reader.ReadString(loc.offset, loc.size, "zip directory",
                                                         kMaxCentralDirectoryBytes));
  std::vector<ZipEntry> entries;
  entries.reserve(loc.entries);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < loc.entries; ++i) {
    MG_ASSIGN_OR_RETURN(ZipEntry entry, ParseCentralHeader(dir, &pos));
    MG_RETURN_IF_ERROR(ResolveDataOffset(reader, &entry));
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<std::string> ReadZipEntry(const ByteReader& reader, const ZipEntry& entry,
                                 uint64_t max_bytes) {
  if (!entry.stored()) {
    return Unsupported("zip: entry " + entry.name + " is compressed (method " +
                       std::to_string(entry.method) + ")");
  }
  if (entry.compressed_bytes > max_bytes) {
    return OutOfRange("zip: entry " + entry.name + " has " +
                      std::to_string(entry.compressed_bytes) + " bytes, more than the limit of " +
                      std::to_string(max_bytes));
  }
  return reader.ReadString(entry.data_offset, entry.compressed_bytes, entry.name, max_bytes);
}

const ZipEntry* FindZipEntry(const std::vector<ZipEntry>& entries, std::string_view name) {
  for (const auto& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace modelgrid
