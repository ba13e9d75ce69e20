#include "common/byte_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace modelgrid {

namespace {
std::string RangeText(uint64_t offset, uint64_t length, uint64_t size) {
  return "range [" + std::to_string(offset) + ", +" + std::to_string(length) + ") is outside the " +
         std::to_string(size) + "-byte input";
}
}  // namespace

Result<std::string> ByteReader::ReadString(uint64_t offset, uint64_t length, std::string_view what,
                                           uint64_t max_length) const {
  if (length > max_length) {
    return CorruptData(std::string(what) + " claims " + std::to_string(length) +
                       " bytes, more than the limit of " + std::to_string(max_length));
  }
  if (!Contains(offset, length)) {
    return CorruptData(std::string(what) + ": " + RangeText(offset, length, size()));
  }
  std::string out(length, '\0');
  MG_RETURN_IF_ERROR(ReadAt(offset, length, out.data()));
  return out;
}

Status MemoryByteReader::ReadAt(uint64_t offset, uint64_t length, void* out) const {
  if (!Contains(offset, length)) return CorruptData(RangeText(offset, length, size_));
  if (length > 0) std::memcpy(out, data_ + offset, length);
  return Status::Ok();
}

Result<std::unique_ptr<FileByteReader>> FileByteReader::Open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO or device must not wait for a writer; anything but a regular
  // file is refused below, and reads of regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    std::string message = "cannot open " + path + ": " + std::strerror(error);
    switch (error) {
      case ENOENT:
      case ENOTDIR:
        return NotFound(std::move(message));
      case EMFILE:  // out of descriptors or memory: the server's trouble, and passing
      case ENFILE:
      case ENOMEM:
        return Status(StatusCode::kUnavailable, std::move(message));
      case ENAMETOOLONG:
        return InvalidArgument(std::move(message));
      default:  // EACCES, ELOOP, EIO, ...: how the machine is set up, not the request
        return Internal(std::move(message));
    }
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Internal("cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + " is not a regular file");
  }
  return std::unique_ptr<FileByteReader>(
      new FileByteReader(fd, static_cast<uint64_t>(st.st_size), path));
}

FileByteReader::~FileByteReader() { ::close(fd_); }

Status FileByteReader::ReadAt(uint64_t offset, uint64_t length, void* out) const {
  if (!Contains(offset, length)) {
    return CorruptData(path_ + ": " + RangeText(offset, length, size_));
  }
  auto* dst = static_cast<uint8_t*>(out);
  while (length > 0) {
    ssize_t n = ::pread(fd_, dst, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal("read failed on " + path_ + ": " + std::strerror(errno));
    dst += n;
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Result<uint8_t> LeCursor::ReadU8() {
  uint8_t v = 0;
  MG_RETURN_IF_ERROR(ReadBytes(1, &v));
  return v;
}

Result<uint16_t> LeCursor::ReadU16() {
  uint8_t b[2];
  MG_RETURN_IF_ERROR(ReadBytes(2, b));
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}

Result<uint32_t> LeCursor::ReadU32() {
  uint8_t b[4];
  MG_RETURN_IF_ERROR(ReadBytes(4, b));
  return static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
         (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24);
}

Result<uint64_t> LeCursor::ReadU64() {
  uint8_t b[8];
  MG_RETURN_IF_ERROR(ReadBytes(8, b));
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

Status LeCursor::ReadBytes(uint64_t length, void* out) {
  MG_RETURN_IF_ERROR(reader_.ReadAt(offset_, length, out));
  offset_ += length;
  return Status::Ok();
}

Status LeCursor::Skip(uint64_t length) {
  if (!reader_.Contains(offset_, length)) {
    return CorruptData("skip of " + std::to_string(length) + " bytes at offset " +
                       std::to_string(offset_) + " runs past the end");
  }
  offset_ += length;
  return Status::Ok();
}

Result<std::string> LeCursor::ReadString(uint64_t length, uint64_t max_length) {
  MG_ASSIGN_OR_RETURN(std::string s, reader_.ReadString(offset_, length, "string", max_length));
  offset_ += length;
  return s;
}

Result<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes) {
  MG_ASSIGN_OR_RETURN(auto reader, FileByteReader::Open(path));
  if (reader->size() > max_bytes) {
    return OutOfRange(path + " is " + std::to_string(reader->size()) +
                      " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  return reader->ReadString(0, reader->size(), path, max_bytes);
}

}  // namespace modelgrid
