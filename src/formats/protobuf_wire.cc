#include "formats/protobuf_wire.h"

#include <algorithm>
#include <cstring>

namespace modelgrid::pb {

Result<uint64_t> DecodeVarint(const uint8_t* data, size_t size, size_t* pos) {
  uint64_t value = 0;
  for (int i = 0; i < 10; ++i) {
    if (*pos >= size) return CorruptData("truncated varint");
    uint8_t byte = data[(*pos)++];
    if (i == 9 && byte > 1) return CorruptData("varint overflows 64 bits");
    value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) return value;
  }
  return CorruptData("varint longer than 10 bytes");
}

Result<uint64_t> MessageReader::ReadVarint() {
  uint8_t buf[10];
  size_t n = static_cast<size_t>(std::min<uint64_t>(10, end_ - pos_));
  MG_RETURN_IF_ERROR(reader_->ReadAt(pos_, n, buf));
  size_t used = 0;
  MG_ASSIGN_OR_RETURN(uint64_t value, DecodeVarint(buf, n, &used));
  pos_ += used;
  return value;
}

Result<Field> MessageReader::Next() {
  if (done()) return CorruptData("read past the end of a message");
  MG_ASSIGN_OR_RETURN(uint64_t tag, ReadVarint());
  Field f;
  uint64_t number = tag >> 3;
  if (number == 0 || number > 0x1fffffff) {
    return CorruptData("invalid field number " + std::to_string(number));
  }
  f.number = static_cast<uint32_t>(number);
  f.type = static_cast<WireType>(tag & 7);
  switch (f.type) {
    case WireType::kVarint: {
      MG_ASSIGN_OR_RETURN(f.value, ReadVarint());
      return f;
    }
    case WireType::kFixed64:
    case WireType::kFixed32: {
      uint64_t width = f.type == WireType::kFixed64 ? 8 : 4;
      if (end_ - pos_ < width) return CorruptData("truncated fixed-width field");
      uint8_t buf[8] = {};
      MG_RETURN_IF_ERROR(reader_->ReadAt(pos_, width, buf));
      for (uint64_t i = 0; i < width; ++i) f.value |= static_cast<uint64_t>(buf[i]) << (8 * i);
      pos_ += width;
      return f;
    }
    case WireType::kLen: {
      MG_ASSIGN_OR_RETURN(f.length, ReadVarint());
      if (f.length > end_ - pos_) {
        return CorruptData("field " + std::to_string(f.number) + " claims " +
                           std::to_string(f.length) + " bytes but only " +
                           std::to_string(end_ - pos_) + " remain");
      }
      f.offset = pos_;
      pos_ += f.length;
      return f;
    }
    case WireType::kStartGroup:
    case WireType::kEndGroup:
      return CorruptData("protobuf groups are not supported");
  }
  return CorruptData("invalid wire type " + std::to_string(tag & 7));
}

Result<MessageReader> MessageReader::Sub(const Field& field) const {
  if (field.type != WireType::kLen) {
    return CorruptData("field " + std::to_string(field.number) + " is not a message");
  }
  if (depth_ + 1 > kMaxDepth) {
    return CorruptData("messages nested deeper than " + std::to_string(kMaxDepth));
  }
  return MessageReader(*reader_, field.offset, field.offset + field.length, depth_ + 1);
}

Result<std::string> MessageReader::String(const Field& field, uint64_t max_length) const {
  if (field.type != WireType::kLen) {
    return CorruptData("field " + std::to_string(field.number) + " is not a string");
  }
  return reader_->ReadString(field.offset, field.length, "string field", max_length);
}

Status MessageReader::AppendVarints(const Field& field, std::vector<int64_t>* out,
                                    size_t max_count) const {
  if (field.type == WireType::kVarint) {
    if (out->size() >= max_count) return CorruptData("too many repeated values");
    out->push_back(static_cast<int64_t>(field.value));
    return Status::Ok();
  }
  if (field.type != WireType::kLen) return CorruptData("bad wire type for integers");
  // Each value takes at least one byte, so the payload bounds the count.
  if (field.length > 10 * static_cast<uint64_t>(max_count)) {
    return CorruptData("too many packed values");
  }
  std::string bytes(field.length, '\0');
  MG_RETURN_IF_ERROR(reader_->ReadAt(field.offset, field.length, bytes.data()));
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (out->size() >= max_count) return CorruptData("too many packed values");
    MG_ASSIGN_OR_RETURN(uint64_t v, DecodeVarint(data, bytes.size(), &pos));
    out->push_back(static_cast<int64_t>(v));
  }
  return Status::Ok();
}

namespace {
double FloatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
}  // namespace

Status MessageReader::AppendFloats(const Field& field, std::vector<double>* out,
                                   size_t max_count) const {
  if (field.type == WireType::kFixed32) {
    if (out->size() >= max_count) return CorruptData("too many repeated values");
    out->push_back(FloatFromBits(static_cast<uint32_t>(field.value)));
    return Status::Ok();
  }
  if (field.type != WireType::kLen || field.length % 4 != 0) {
    return CorruptData("bad encoding of a float field");
  }
  if (field.length / 4 > max_count - std::min(max_count, out->size())) {
    return CorruptData("too many packed floats");
  }
  std::string bytes(field.length, '\0');
  MG_RETURN_IF_ERROR(reader_->ReadAt(field.offset, field.length, bytes.data()));
  for (size_t i = 0; i < bytes.size(); i += 4) {
    uint32_t bits = 0;
    for (int k = 0; k < 4; ++k) bits |= static_cast<uint32_t>(uint8_t(bytes[i + k])) << (8 * k);
    out->push_back(FloatFromBits(bits));
  }
  return Status::Ok();
}

Result<uint64_t> MessageReader::CountValues(const Field& field, WireType element_type) const {
  if (field.type != WireType::kLen) {
    if (field.type != element_type) return CorruptData("bad wire type for a repeated value");
    return uint64_t{1};
  }
  if (element_type == WireType::kFixed32 || element_type == WireType::kFixed64) {
    uint64_t width = element_type == WireType::kFixed32 ? 4 : 8;
    if (field.length % width != 0) return CorruptData("packed field length is not a multiple");
    return field.length / width;
  }
  // Varints: a value ends at each byte without the continuation bit.
  constexpr uint64_t kChunk = 64 * 1024;
  std::vector<uint8_t> buf(std::min(kChunk, field.length));
  uint64_t count = 0, run = 0;
  for (uint64_t done = 0; done < field.length;) {
    uint64_t n = std::min(kChunk, field.length - done);
    MG_RETURN_IF_ERROR(reader_->ReadAt(field.offset + done, n, buf.data()));
    for (uint64_t i = 0; i < n; ++i) {
      if (buf[i] & 0x80) {
        if (++run >= 10) return CorruptData("varint longer than 10 bytes");
      } else {
        ++count;
        run = 0;
      }
    }
    done += n;
  }
  if (run != 0) return CorruptData("truncated packed varint");
  return count;
}

}  // namespace modelgrid::pb
