// The wire format between the server and one worker: everything that lives in the shared
// memory segment, in one versioned header.
//
// Rules: fixed-width integers, no STL types except lock-free std::atomic of fixed-width
// integers, no pointers (only offsets from the segment start), explicit alignment, sizes and
// offsets pinned by static_asserts. Any change to a struct here bumps kShmLayoutVersion;
// Attach() refuses a segment whose magic or version differs.
//
// Segment layout (every region starts on a 64-byte boundary):
//   SegmentHeader | RingHeader + request slots | RingHeader + response slots | tensor arena
//
// No lock is ever shared: each ring has one producer and one consumer, which own head and
// tail respectively, so a peer that dies at any instruction leaves nothing locked.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace modelgrid::ipc {

inline constexpr uint64_t kShmMagic = 0x314D53434950474DULL;  // "MGIPCSM1" little-endian
inline constexpr uint32_t kShmLayoutVersion = 3;
inline constexpr uint32_t kCacheLineBytes = 64;
inline constexpr uint32_t kMaxTensorsPerMessage = 8;
inline constexpr uint32_t kMaxTensorDims = 8;
inline constexpr uint32_t kTensorNameBytes = 32;    // NUL-terminated within the array
inline constexpr uint32_t kMessageTextBytes = 128;  // NUL-terminated error or info text
inline constexpr uint64_t kArenaAlignBytes = 64;    // arena offsets are multiples of this

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory rings need lock-free 64-bit atomics");
static_assert(std::atomic<uint32_t>::is_always_lock_free,
              "futex words need lock-free 32-bit atomics");
static_assert(sizeof(std::atomic<uint64_t>) == 8 && sizeof(std::atomic<uint32_t>) == 4);
static_assert(sizeof(std::atomic<int32_t>) == 4);

// What a message asks for. Stored as uint8_t in Message::op.
enum class Op : uint8_t {
  kNone = 0,
  kInfer = 1,     // run model_slot on the input tensors; outputs go in the response region
  kLoad = 2,      // load a model into model_slot; tensors carry the path/config as kBytes
  kUnload = 3,    // unload model_slot
  kShutdown = 4,  // finish in-flight work and exit
  kPing = 5,      // answer at once (liveness, round-trip measurements)
  kMetrics = 6,   // the models' custom metrics, as one kBytes tensor in the response region
  // A decoupled model's stream (see kFlagMore): the server has read the response in the
  // region, which the worker may fill with the next one. request_id is the stream's;
  // response_offset/bytes the region to use from now on (a larger one when the worker asked
  // for it); response_bytes 0 cancels the stream (the worker drops what the model sends).
  kStreamAck = 7,
  // The host-memory tier: copy model_slot's weights to host memory and free them on the
  // device (kPark), or copy them back (kUnpark). The response text holds {"bytes"}.
  kPark = 8,
  kUnpark = 9,
};
inline constexpr uint8_t kMaxOp = 9;

// Message::flags of a response: a decoupled model's response with more to follow for the
// same request (the final one lacks it). The worker writes no further response into the
// region until the server answers kStreamAck. A kResourceExhausted response with this flag
// and response_needed set is no response: it asks for a region of that size in the ack.
inline constexpr uint32_t kFlagMore = 1;
// ... and on a decoupled model's final response: there is no response, only the end of the
// request (the model sent the final flag alone).
inline constexpr uint32_t kFlagNoResponse = 2;

// Element types on the wire. Stored as uint8_t in TensorDesc::dtype.
enum class WireDType : uint8_t {
  kBool = 0,
  kU8 = 1,
  kI8 = 2,
  kI16 = 3,
  kI32 = 4,
  kI64 = 5,
  kF16 = 6,
  kBF16 = 7,
  kF32 = 8,
  kF64 = 9,
  kU16 = 10,
  kU32 = 11,
  kU64 = 12,
  kBytes = 13,  // opaque bytes (strings, configs): dims are not checked against bytes
};
inline constexpr uint8_t kMaxWireDType = 13;

// Bytes per element of `dtype`; 0 for kBytes and for unknown values.
constexpr uint64_t WireDTypeBytes(uint8_t dtype) {
  constexpr uint8_t kSizes[] = {1, 1, 1, 2, 4, 8, 2, 2, 4, 8, 2, 4, 8, 0};
  return dtype <= kMaxWireDType ? kSizes[dtype] : 0;
}

// One tensor whose bytes live in the arena at [arena_offset, arena_offset + bytes).
struct alignas(8) TensorDesc {
  uint8_t dtype;  // WireDType
  uint8_t ndims;  // <= kMaxTensorDims
  uint8_t reserved[6];
  int64_t dims[kMaxTensorDims];  // dims[ndims..] are ignored; each used dim >= 0
  uint64_t arena_offset;         // from the start of the arena, not of the segment
  uint64_t bytes;
  char name[kTensorNameBytes];
};
static_assert(sizeof(TensorDesc) == 120);
static_assert(offsetof(TensorDesc, dims) == 8);
static_assert(offsetof(TensorDesc, arena_offset) == 72);
static_assert(offsetof(TensorDesc, name) == 88);

// One ring entry: a request (server -> worker) or a response (worker -> server).
struct alignas(kCacheLineBytes) Message {
  uint64_t request_id;   // chosen by the server; a response repeats its request's id
  uint32_t model_slot;   // which model instance inside the worker
  uint8_t op;            // Op
  uint8_t num_tensors;   // <= kMaxTensorsPerMessage
  uint16_t status_code;  // responses: modelgrid::StatusCode value; 0 = ok
  // Requests: the arena region the worker may write outputs into (owned by this request
  // until the server frees it). Responses: repeated, so the server can check them.
  uint64_t response_offset;
  uint64_t response_bytes;
  // Responses that failed because the outputs did not fit the region: the region size they
  // need (0 otherwise), so the server can run the request again with enough room.
  uint64_t response_needed;
  // Requests: which of the server's doorbells the reply rings (the server's event loop
  // that sent the request; taken modulo the doorbells the worker has). Responses: repeated.
  uint32_t reply_doorbell;
  uint32_t flags;  // responses: kFlagMore, kFlagNoResponse or 0
  uint64_t reserved[2];
  char text[kMessageTextBytes];  // error message of a failed response, NUL-terminated
  TensorDesc tensors[kMaxTensorsPerMessage];
};
static_assert(sizeof(Message) == 1152);
static_assert(sizeof(Message) % kCacheLineBytes == 0);
static_assert(offsetof(Message, response_offset) == 16);
static_assert(offsetof(Message, response_needed) == 32);
static_assert(offsetof(Message, reply_doorbell) == 40);
static_assert(offsetof(Message, text) == 64);
static_assert(offsetof(Message, tensors) == 192);

// RingHeader::consumer_waiting values besides 0 (awake): how the consumer sleeps.
inline constexpr uint32_t kSleepsOnFutex = 1;     // in Ring::Pop, on data_seq
inline constexpr uint32_t kSleepsOnDoorbell = 2;  // in an event loop, after Ring::Sleep

// Indices of one single-producer/single-consumer ring. head and tail count messages since
// the last reset (never wrap in practice: 2^64 messages); slot = index & (capacity - 1).
// Each field the other side writes sits on its own cache line to avoid false sharing.
struct alignas(kCacheLineBytes) RingHeader {
  alignas(kCacheLineBytes) std::atomic<uint64_t> head;  // next to pop; consumer writes
  alignas(kCacheLineBytes) std::atomic<uint64_t> tail;  // next to push; producer writes
  // Futex word the consumer sleeps on: the producer bumps it after every push.
  alignas(kCacheLineBytes) std::atomic<uint32_t> data_seq;
  // 0 while the consumer is awake, else how it may be sleeping: a push wakes only that way.
  std::atomic<uint32_t> consumer_waiting;
  // Futex word the producer sleeps on when full: the consumer bumps it after every pop.
  alignas(kCacheLineBytes) std::atomic<uint32_t> space_seq;
  std::atomic<uint32_t> producer_waiting;
};
static_assert(sizeof(RingHeader) == 4 * kCacheLineBytes);
static_assert(offsetof(RingHeader, tail) == 64);
static_assert(offsetof(RingHeader, data_seq) == 128);
static_assert(offsetof(RingHeader, space_seq) == 192);

// Written by the server before the descriptor is handed to the worker; the geometry fields
// never change afterwards. The worker writes only the fields under "worker writes".
struct alignas(kCacheLineBytes) SegmentHeader {
  uint64_t magic;                   // kShmMagic, stored last at creation
  uint32_t version;                 // kShmLayoutVersion
  uint32_t header_bytes;            // sizeof(SegmentHeader)
  uint64_t total_bytes;             // the whole segment (== file size)
  uint32_t message_bytes;           // sizeof(Message)
  uint32_t request_ring_capacity;   // messages; a power of two
  uint32_t response_ring_capacity;  // messages; a power of two
  uint32_t reserved0;
  uint64_t request_ring_offset;  // RingHeader, then capacity Messages
  uint64_t response_ring_offset;
  uint64_t arena_offset;
  uint64_t arena_bytes;
  // Worker writes:
  alignas(kCacheLineBytes) std::atomic<int32_t> worker_pid;  // informational only
  std::atomic<uint32_t> worker_state;                        // WorkerState
  std::atomic<uint64_t> heartbeat_count;
  std::atomic<uint64_t> heartbeat_mono_ms;  // CLOCK_MONOTONIC of the last beat
  // Server writes: bumped by every reset, so stale state from a dead worker is recognisable.
  alignas(kCacheLineBytes) std::atomic<uint64_t> generation;
};
static_assert(sizeof(SegmentHeader) == 4 * kCacheLineBytes);
static_assert(offsetof(SegmentHeader, arena_bytes) == 64);
static_assert(offsetof(SegmentHeader, worker_pid) == 128);
static_assert(offsetof(SegmentHeader, generation) == 192);

enum class WorkerState : uint32_t {
  kStarting = 0,  // segment created, worker not attached yet
  kReady = 1,     // worker attached and serving
  kStopping = 2,  // worker got kShutdown or is exiting
};

// Offset of the slots of a ring whose RingHeader is at `ring_offset`.
constexpr uint64_t RingSlotsOffset(uint64_t ring_offset) {
  return ring_offset + sizeof(RingHeader);
}
// Bytes of a ring region: header plus slots.
constexpr uint64_t RingRegionBytes(uint32_t capacity) {
  return sizeof(RingHeader) + uint64_t{capacity} * sizeof(Message);
}

}  // namespace modelgrid::ipc
