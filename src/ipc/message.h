// Building, validating and reading ring Messages.
//
// Everything read from the other process goes through Validate* before use: ops, counts,
// dtypes, dims, names, and every tensor's [arena_offset, arena_offset + bytes) against the
// arena (and, for responses, against the request's response region), with overflow checks.
// Validate a private copy (Ring::TryPop makes one); tensor bytes stay in shared memory and
// may change under the reader, but their bounds cannot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "common/status.h"
#include "ipc/shm_layout.h"

namespace modelgrid::ipc {

// A zeroed message with the given id, op and model slot.
Message MakeMessage(uint64_t request_id, Op op, uint32_t model_slot);

// Appends a tensor descriptor. kOutOfRange when the message already has
// kMaxTensorsPerMessage tensors, `dims` has more than kMaxTensorDims entries, or `name`
// does not fit kTensorNameBytes - 1; kInvalidArgument when bytes disagree with dtype x dims.
Status AddTensor(Message* msg, WireDType dtype, std::initializer_list<int64_t> dims,
                 uint64_t arena_offset, uint64_t bytes, std::string_view name);
Status AddTensor(Message* msg, WireDType dtype, std::span<const int64_t> dims,
                 uint64_t arena_offset, uint64_t bytes, std::string_view name);

// The name of a (validated or not) descriptor; never reads past the array.
std::string_view TensorName(const TensorDesc& desc);

// Sets a response's status code and text (truncated to fit).
void SetStatus(Message* msg, const Status& status);
// The Status a response carries; an unknown code becomes kInternal.
Status StatusOf(const Message& msg);

// Checks op, counts and every descriptor, with tensors inside [0, arena_bytes).
Status ValidateMessage(const Message& msg, uint64_t arena_bytes);
// ValidateMessage plus: every tensor lies inside [region_offset, region_offset +
// region_bytes). The server calls it on responses with the region it gave the request.
Status ValidateResponse(const Message& msg, uint64_t arena_bytes, uint64_t region_offset,
                        uint64_t region_bytes);

// The bytes of a tensor inside `arena` (arena_bytes long), bounds-checked again so a caller
// that skipped validation still cannot read outside the arena.
Result<std::span<std::byte>> TensorBytes(std::byte* arena, uint64_t arena_bytes,
                                         const TensorDesc& desc);

}  // namespace modelgrid::ipc
