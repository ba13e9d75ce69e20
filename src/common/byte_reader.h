// ByteReader: bounds-checked random access to untrusted bytes (a file or a memory buffer).
//
// Parsers take a ByteReader so that fuzzers and tests can feed them memory while the CLI
// feeds them files. Every read is checked against size(): a header that lies about an
// offset gets kCorruptData, never an out-of-bounds access. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid {

class ByteReader {
 public:
  virtual ~ByteReader() = default;

  // Total number of bytes available.
  virtual uint64_t size() const = 0;

  // Copies `length` bytes at `offset` into `out`. Fails with kCorruptData when the range
  // [offset, offset + length) is not inside [0, size()).
  virtual Status ReadAt(uint64_t offset, uint64_t length, void* out) const = 0;

  // Reads a range into a string. `what` names the field in the error message. Refuses
  // ranges above `max_length` so that a lying header cannot make us allocate gigabytes.
  Result<std::string> ReadString(uint64_t offset, uint64_t length, std::string_view what,
                                 uint64_t max_length) const;

  // True when [offset, offset + length) lies inside the reader (overflow-safe).
  bool Contains(uint64_t offset, uint64_t length) const {
    return offset <= size() && length <= size() - offset;
  }
};

// Reads from a caller-owned buffer; the buffer must outlive the reader.
class MemoryByteReader : public ByteReader {
 public:
  MemoryByteReader(const void* data, uint64_t size)
      : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  explicit MemoryByteReader(std::string_view bytes)
      : MemoryByteReader(bytes.data(), bytes.size()) {}

  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, uint64_t length, void* out) const override;

 private:
  const uint8_t* data_;
  uint64_t size_;
};

// Reads a file with pread. Opened once; the descriptor closes with the object.
class FileByteReader : public ByteReader {
 public:
  // Fails with kNotFound when the file cannot be opened, kInvalidArgument for a directory.
  static Result<std::unique_ptr<FileByteReader>> Open(const std::string& path);
  ~FileByteReader() override;
  FileByteReader(const FileByteReader&) = delete;
  FileByteReader& operator=(const FileByteReader&) = delete;

  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, uint64_t length, void* out) const override;
  const std::string& path() const { return path_; }

 private:
  FileByteReader(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  int fd_;
  uint64_t size_;
  std::string path_;
};

// Little-endian cursor over a ByteReader, used by the binary parsers (GGUF, pickle, zip).
// Every Read* fails with kCorruptData past the end.
class LeCursor {
 public:
  LeCursor(const ByteReader& reader, uint64_t offset) : reader_(reader), offset_(offset) {}
  uint64_t offset() const { return offset_; }
  void Seek(uint64_t offset) { offset_ = offset; }
  Result<uint8_t> ReadU8();
  Result<uint16_t> ReadU16();
  Result<uint32_t> ReadU32();
  Result<uint64_t> ReadU64();
  Status ReadBytes(uint64_t length, void* out);
  Status Skip(uint64_t length);
  // A string of `length` bytes, refused above `max_length`.
  Result<std::string> ReadString(uint64_t length, uint64_t max_length);

 private:
  const ByteReader& reader_;
  uint64_t offset_;
};

// Reads a whole small file (config.json, config.pbtxt, an index) refusing files larger
// than `max_bytes`.
Result<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes);

}  // namespace modelgrid
