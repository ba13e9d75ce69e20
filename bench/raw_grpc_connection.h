// RawGrpcConnection: a minimal gRPC client for serve_bench, one unary ModelInfer at a time
// over one TCP connection, written straight on HTTP/2 frames (RFC 9113) the way the
// benchmark's HTTP client is written straight on HTTP/1.1. It lets the benchmark weigh the
// server's gRPC cost against its HTTP cost with clients of the same weight: gRPC C++'s own
// client spends several times the CPU of a raw-socket client per call, on the same 2 cores.
//
// What it does and does not do, as a benchmark client:
// - sends the connection preface, its SETTINGS (a large stream window), one large
//   connection WINDOW_UPDATE, and acknowledges the server's SETTINGS and PINGs;
// - encodes request headers with HPACK literals and static-table names only (no dynamic
//   table, no Huffman); it never decodes the server's headers or trailers. A call counts as
//   a success when its stream ends with one message that parses as a ModelInferResponse
//   with one raw output: ModelGrid answers an error with trailers alone, never with a
//   message (src/grpc/unary_call.h);
// - honours the server's connection and stream flow-control windows and maximum frame
//   size for the request.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "grpc_service.pb.h"
#include "loopback_socket.h"

class RawGrpcConnection {
 public:
  // Connects to 127.0.0.1:`port`; `request` is sent as is on every Infer.
  RawGrpcConnection(int port, const inference::ModelInferRequest& request)
      : fd_(ConnectLoopback(port)), ok_(fd_ >= 0) {
    const std::string serialized = request.SerializeAsString();
    message_.push_back('\0');  // not compressed
    AppendU32(&message_, static_cast<uint32_t>(serialized.size()));
    message_ += serialized;
    headers_ = HeaderBlock("127.0.0.1:" + std::to_string(port));
    // The preface; SETTINGS_ENABLE_PUSH (0x2) = 0 and SETTINGS_INITIAL_WINDOW_SIZE (0x4) =
    // 2^31 - 1; the connection window raised by as much: the server never waits for this
    // client's window updates.
    std::string start = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    std::string settings;
    settings += std::string("\x00\x02\x00\x00\x00\x00\x00\x04", 8);
    AppendU32(&settings, kMaxWindow);
    AppendFrame(&start, kSettings, 0, 0, settings);
    std::string increment;
    AppendU32(&increment, kMaxWindow - kDefaultWindow);
    AppendFrame(&start, kWindowUpdate, 0, 0, increment);
    ok_ = ok_ && Send(start);
  }
  ~RawGrpcConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawGrpcConnection(const RawGrpcConnection&) = delete;
  RawGrpcConnection& operator=(const RawGrpcConnection&) = delete;

  // One ModelInfer; true when it succeeded with an output.
  bool Infer() {
    if (!ok_) return false;
    const uint32_t stream = next_stream_;
    next_stream_ += 2;
    std::string out;
    AppendFrame(&out, kHeaders, kEndHeaders, stream, headers_);
    // DATA within the peer's frame size and windows, reading its frames while they are
    // exhausted (the stream's window starts at the server's initial window size).
    int64_t stream_window = peer_initial_window_;
    size_t sent = 0;
    while (ok_ && sent < message_.size()) {
      const int64_t room = std::min<int64_t>({stream_window, connection_window_, peer_max_frame_});
      if (room <= 0) {
        if (!Send(out)) return false;
        out.clear();
        if (!ReadFrame(stream, &stream_window)) return false;
        continue;
      }
      const size_t n = std::min(message_.size() - sent, static_cast<size_t>(room));
      const bool last = sent + n == message_.size();
      AppendFrame(&out, kData, last ? kEndStream : 0, stream,
                  std::string_view(message_).substr(sent, n));
      sent += n;
      stream_window -= static_cast<int64_t>(n);
      connection_window_ -= static_cast<int64_t>(n);
    }
    if (!ok_ || !Send(out)) return false;
    body_.clear();
    ended_ = false;
    while (!ended_) {
      if (!ReadFrame(stream, &stream_window)) return false;
    }
    // The body holds one length-prefixed message.
    if (body_.size() < 5 || body_[0] != 0) return false;
    inference::ModelInferResponse response;
    return response.ParseFromArray(body_.data() + 5, static_cast<int>(body_.size() - 5)) &&
           response.raw_output_contents_size() == 1;
  }

 private:
  static constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4,
                           kPing = 0x6, kGoaway = 0x7, kWindowUpdate = 0x8;
  static constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4, kPadded = 0x8;
  static constexpr uint32_t kMaxWindow = 0x7fffffff, kDefaultWindow = 65535;

  static void AppendU32(std::string* s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
  }
  static uint32_t U32(const unsigned char* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
  }
  static void AppendFrame(std::string* s, uint8_t type, uint8_t flags, uint32_t stream,
                          std::string_view payload) {
    const size_t n = payload.size();
    s->push_back(static_cast<char>(n >> 16));
    s->push_back(static_cast<char>(n >> 8));
    s->push_back(static_cast<char>(n));
    s->push_back(static_cast<char>(type));
    s->push_back(static_cast<char>(flags));
    AppendU32(s, stream);
    s->append(payload);
  }
  // An HPACK string literal, not Huffman-coded; every value here is under 127 bytes.
  static void AppendLiteral(std::string* s, std::string_view text) {
    s->push_back(static_cast<char>(text.size()));
    s->append(text);
  }
  // The request's header block: ":method: POST" and ":scheme: http" from the static table
  // (indices 3 and 6), the rest literal without indexing, by static name where there is one
  // (:authority 1, :path 4, content-type 31) and by literal name for "te".
  static std::string HeaderBlock(const std::string& authority) {
    std::string h = "\x83\x86";
    h.push_back('\x04');
    AppendLiteral(&h, "/inference.GRPCInferenceService/ModelInfer");
    h.push_back('\x01');
    AppendLiteral(&h, authority);
    h += std::string("\x0f\x10", 2);  // index 31 in a 4-bit prefix: 15, then 31 - 15
    AppendLiteral(&h, "application/grpc");
    h.push_back('\x00');
    AppendLiteral(&h, "te");
    AppendLiteral(&h, "trailers");
    return h;
  }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return ok_ = false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Fill(size_t need) {
    char chunk[16384];
    while (in_.size() < need) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return ok_ = false;
      in_.append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  // Reads and handles one frame; `stream` is the call in flight, `*stream_window` its send
  // window. False when the connection failed or the server reset the call.
  bool ReadFrame(uint32_t stream, int64_t* stream_window) {
    if (!Fill(9)) return false;
    const auto* h = reinterpret_cast<const unsigned char*>(in_.data());
    const size_t length = size_t{h[0]} << 16 | size_t{h[1]} << 8 | h[2];
    const uint8_t type = h[3], flags = h[4];
    const uint32_t id = U32(h + 5) & 0x7fffffff;
    if (!Fill(9 + length)) return false;
    std::string payload = in_.substr(9, length);
    in_.erase(0, 9 + length);
    const auto* p = reinterpret_cast<const unsigned char*>(payload.data());
    switch (type) {
      case kData: {
        if (id != stream) break;
        size_t pad = 0, skip = 0;
        if ((flags & kPadded) && length > 0) pad = p[0], skip = 1;
        if (skip + pad > length) return ok_ = false;
        body_.append(payload, skip, length - skip - pad);
        received_ += static_cast<int64_t>(length);
        if (received_ > kMaxWindow / 2) {  // give the connection window back, rarely
          std::string update, increment;
          AppendU32(&increment, static_cast<uint32_t>(received_));
          AppendFrame(&update, kWindowUpdate, 0, 0, increment);
          received_ = 0;
          if (!Send(update)) return false;
        }
        if (flags & kEndStream) ended_ = true;
        break;
      }
      case kHeaders:  // response headers, or trailers when they end the stream
        if (id == stream && (flags & kEndStream)) ended_ = true;
        break;
      case kRstStream:
        if (id == stream) return false;
        break;
      case kSettings:
        if (flags & kAck) break;
        for (size_t i = 0; i + 6 <= length; i += 6) {
          const uint16_t key = static_cast<uint16_t>(p[i] << 8 | p[i + 1]);
          const uint32_t value = U32(p + i + 2);
          if (key == 0x4) peer_initial_window_ = value;
          if (key == 0x5) peer_max_frame_ = value;
        }
        return Send(std::string("\x00\x00\x00\x04\x01\x00\x00\x00\x00", 9));
      case kPing: {
        if (flags & kAck) break;
        std::string ack;
        AppendFrame(&ack, kPing, kAck, 0, payload);
        return Send(ack);
      }
      case kGoaway:
        return ok_ = false;
      case kWindowUpdate:
        if (length != 4) return ok_ = false;
        if (id == 0) connection_window_ += U32(p) & 0x7fffffff;
        if (id == stream) *stream_window += U32(p) & 0x7fffffff;
        break;
      default:  // PRIORITY, and unknown types, which RFC 9113 says to ignore
        break;
    }
    return true;
  }

  int fd_ = -1;
  bool ok_ = false;
  std::string message_;  // the request, with gRPC's 5-byte message prefix
  std::string headers_;  // its HPACK header block
  uint32_t next_stream_ = 1;
  int64_t connection_window_ = kDefaultWindow;  // what this client may still send
  int64_t peer_initial_window_ = kDefaultWindow;
  int64_t peer_max_frame_ = 16384;
  int64_t received_ = 0;  // DATA bytes not yet given back to the connection window
  std::string in_;        // bytes read and not yet handled
  std::string body_;      // the call's DATA payload
  bool ended_ = false;    // the call's stream ended
};
