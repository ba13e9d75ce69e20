// A small bounds-checked reader of the protobuf binary wire format, enough for ONNX.
//
// Messages are read in place from a ByteReader: length-delimited fields are not copied,
// only checked against the bytes that remain in their enclosing message, so a file of
// hundreds of megabytes of weights is walked without reading the weights. Varints are at
// most 10 bytes, groups (wire types 3 and 4) are rejected, and nested messages may be at
// most kMaxDepth deep. Every malformed input gets kCorruptData. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_reader.h"
#include "common/status.h"

namespace modelgrid::pb {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLen = 2,
  kStartGroup = 3,  // rejected
  kEndGroup = 4,    // rejected
  kFixed32 = 5,
};

// Deepest message nesting accepted (the top-level message is depth 0).
inline constexpr int kMaxDepth = 32;

// One field as found on the wire. For kLen fields the payload is [offset, offset+length)
// of the underlying reader, already checked to lie inside the enclosing message.
struct Field {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t value = 0;   // varint, fixed32 or fixed64 bits
  uint64_t offset = 0;  // kLen payload start
  uint64_t length = 0;  // kLen payload length
};

// Iterates the fields of one message occupying [begin, end) of `reader`, which it borrows
// and which must outlive it.
class MessageReader {
 public:
  MessageReader(const ByteReader& reader, uint64_t begin, uint64_t end, int depth = 0)
      : reader_(&reader), pos_(begin), end_(end), depth_(depth) {}
  // The whole reader as one top-level message.
  explicit MessageReader(const ByteReader& reader) : MessageReader(reader, 0, reader.size()) {}

  bool done() const { return pos_ >= end_; }
  int depth() const { return depth_; }

  // Reads the next field (tag and value; kLen payloads are only bounds-checked).
  Result<Field> Next();

  // The embedded message in a kLen field; fails past kMaxDepth or on a non-kLen field.
  Result<MessageReader> Sub(const Field& field) const;

  // The payload of a kLen field as bytes, refused above `max_length`.
  Result<std::string> String(const Field& field, uint64_t max_length) const;

  // Appends the integers of a repeated varint field, packed (kLen) or not (kVarint),
  // refusing to hold more than `max_count` values in `out`.
  Status AppendVarints(const Field& field, std::vector<int64_t>* out, size_t max_count) const;

  // Appends the values of a repeated fixed32 float field, packed or not.
  Status AppendFloats(const Field& field, std::vector<double>* out, size_t max_count) const;

  // Number of values in a repeated numeric field without storing them: varints are
  // counted in chunks, fixed-width values by length (which must divide evenly).
  Result<uint64_t> CountValues(const Field& field, WireType element_type) const;

 private:
  Result<uint64_t> ReadVarint();

  const ByteReader* reader_;
  uint64_t pos_;
  uint64_t end_;
  int depth_;
};

// Decodes one varint from `data[*pos, size)`, advancing *pos. Fails on truncation or on a
// varint longer than 10 bytes or whose tenth byte overflows 64 bits.
Result<uint64_t> DecodeVarint(const uint8_t* data, size_t size, size_t* pos);

}  // namespace modelgrid::pb
