#include "ipc/message.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace modelgrid::ipc {
namespace {

// numel * element size, or false on a negative dim or overflow.
bool ExpectedBytes(uint8_t dtype, std::span<const int64_t> dims, uint64_t* bytes) {
  uint64_t total = WireDTypeBytes(dtype);
  for (int64_t d : dims) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(total, uint64_t(d), &total)) return false;
  }
  *bytes = total;
  return true;
}

Status CheckDesc(const TensorDesc& d, uint32_t index, uint64_t arena_bytes) {
  const std::string where = "tensor " + std::to_string(index) + ": ";
  if (d.dtype > kMaxWireDType) return CorruptData(where + "unknown dtype");
  if (d.ndims > kMaxTensorDims) return CorruptData(where + "too many dims");
  if (std::memchr(d.name, '\0', kTensorNameBytes) == nullptr) {
    return CorruptData(where + "name is not NUL-terminated");
  }
  if (d.arena_offset > arena_bytes || d.bytes > arena_bytes - d.arena_offset) {
    return CorruptData(where + "bytes [" + std::to_string(d.arena_offset) + ", +" +
                       std::to_string(d.bytes) + ") lie outside the arena of " +
                       std::to_string(arena_bytes) + " bytes");
  }
  uint64_t expected = 0;
  if (!ExpectedBytes(d.dtype, std::span<const int64_t>(d.dims, d.ndims), &expected)) {
    return CorruptData(where + "negative or overflowing dims");
  }
  if (d.dtype != uint8_t(WireDType::kBytes) && expected != d.bytes) {
    return CorruptData(where + "shape needs " + std::to_string(expected) + " bytes, has " +
                       std::to_string(d.bytes));
  }
  return Status::Ok();
}

}  // namespace

Message MakeMessage(uint64_t request_id, Op op, uint32_t model_slot) {
  Message msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.request_id = request_id;
  msg.op = uint8_t(op);
  msg.model_slot = model_slot;
  return msg;
}

Status AddTensor(Message* msg, WireDType dtype, std::initializer_list<int64_t> dims,
                 uint64_t arena_offset, uint64_t bytes, std::string_view name) {
  return AddTensor(msg, dtype, std::span<const int64_t>(dims.begin(), dims.size()), arena_offset,
                   bytes, name);
}

Status AddTensor(Message* msg, WireDType dtype, std::span<const int64_t> dims,
                 uint64_t arena_offset, uint64_t bytes, std::string_view name) {
  if (msg->num_tensors >= kMaxTensorsPerMessage) {
    return OutOfRange("a message holds at most " + std::to_string(kMaxTensorsPerMessage) +
                      " tensors");
  }
  if (dims.size() > kMaxTensorDims) {
    return OutOfRange("tensor '" + std::string(name) + "' has more than " +
                      std::to_string(kMaxTensorDims) + " dims");
  }
  if (name.size() >= kTensorNameBytes) {
    return OutOfRange("tensor name '" + std::string(name) + "' is longer than " +
                      std::to_string(kTensorNameBytes - 1) + " bytes");
  }
  uint64_t expected = 0;
  if (!ExpectedBytes(uint8_t(dtype), dims, &expected) ||
      (dtype != WireDType::kBytes && expected != bytes)) {
    return InvalidArgument("tensor '" + std::string(name) + "' has " + std::to_string(bytes) +
                           " bytes, its shape needs " + std::to_string(expected));
  }
  TensorDesc& d = msg->tensors[msg->num_tensors++];
  std::memset(&d, 0, sizeof(d));
  d.dtype = uint8_t(dtype);
  d.ndims = uint8_t(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) d.dims[i] = dims[i];
  d.arena_offset = arena_offset;
  d.bytes = bytes;
  std::memcpy(d.name, name.data(), name.size());
  return Status::Ok();
}

std::string_view TensorName(const TensorDesc& desc) {
  const void* nul = std::memchr(desc.name, '\0', kTensorNameBytes);
  const size_t len = nul ? size_t(static_cast<const char*>(nul) - desc.name) : kTensorNameBytes;
  return std::string_view(desc.name, len);
}

void SetStatus(Message* msg, const Status& status) {
  msg->status_code = uint16_t(status.code());
  const size_t len = std::min(status.message().size(), size_t{kMessageTextBytes - 1});
  std::memcpy(msg->text, status.message().data(), len);
  msg->text[len] = '\0';
}

Status StatusOf(const Message& msg) {
  if (msg.status_code == 0) return Status::Ok();
  const void* nul = std::memchr(msg.text, '\0', kMessageTextBytes);
  const size_t len = nul ? size_t(static_cast<const char*>(nul) - msg.text) : kMessageTextBytes;
  std::string text(msg.text, len);
  if (msg.status_code > uint16_t(StatusCode::kInternal)) {
    return Internal("worker sent unknown status " + std::to_string(msg.status_code) + ": " + text);
  }
  return Status(StatusCode(msg.status_code), std::move(text));
}

Status ValidateMessage(const Message& msg, uint64_t arena_bytes) {
  if (msg.op == uint8_t(Op::kNone) || msg.op > kMaxOp) {
    return CorruptData("message " + std::to_string(msg.request_id) + " has unknown op " +
                       std::to_string(msg.op));
  }
  if (msg.num_tensors > kMaxTensorsPerMessage) {
    return CorruptData("message " + std::to_string(msg.request_id) + " claims " +
                       std::to_string(msg.num_tensors) + " tensors");
  }
  for (uint32_t i = 0; i < msg.num_tensors; ++i) {
    Status s = CheckDesc(msg.tensors[i], i, arena_bytes);
    if (!s.ok()) return s.WithContext("message " + std::to_string(msg.request_id));
  }
  if (msg.response_offset > arena_bytes || msg.response_bytes > arena_bytes - msg.response_offset) {
    return CorruptData("message " + std::to_string(msg.request_id) +
                       " has a response region outside the arena");
  }
  return Status::Ok();
}

Status ValidateResponse(const Message& msg, uint64_t arena_bytes, uint64_t region_offset,
                        uint64_t region_bytes) {
  MG_RETURN_IF_ERROR(ValidateMessage(msg, arena_bytes));
  for (uint32_t i = 0; i < msg.num_tensors; ++i) {
    const TensorDesc& d = msg.tensors[i];  // inside the arena, so no overflow below
    if (d.arena_offset < region_offset || d.arena_offset + d.bytes > region_offset + region_bytes) {
      return CorruptData("response " + std::to_string(msg.request_id) + " tensor " +
                         std::to_string(i) + " lies outside its response region");
    }
  }
  return Status::Ok();
}

Result<std::span<std::byte>> TensorBytes(std::byte* arena, uint64_t arena_bytes,
                                         const TensorDesc& desc) {
  if (desc.arena_offset > arena_bytes || desc.bytes > arena_bytes - desc.arena_offset) {
    return CorruptData("tensor bytes lie outside the arena");
  }
  return std::span<std::byte>(arena + desc.arena_offset, desc.bytes);
}

}  // namespace modelgrid::ipc
