#include "serve/bls_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include <nlohmann/json.hpp>

#include "server/tensor_codec.h"

namespace modelgrid {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kPrefixBytes = 12;  // u32 header length, u64 payload length

void PutLE(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

std::string Frame(const json& header, const std::vector<server::Tensor>& tensors) {
  const std::string text = header.dump(-1, ' ', false, json::error_handler_t::replace);
  uint64_t payload = 0;
  for (const auto& t : tensors) payload += t.data.size();
  std::string out;
  out.reserve(kPrefixBytes + text.size() + payload);
  PutLE(&out, text.size(), 4);
  PutLE(&out, payload, 8);
  out += text;
  for (const auto& t : tensors) out += t.data;
  return out;
}

json TensorsJson(const std::vector<server::Tensor>& tensors) {
  json out = json::array();
  for (const auto& t : tensors) {
    out.push_back(
        {{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}, {"bytes", t.data.size()}});
  }
  return out;
}

// The tensors `list` describes, cut from `payload` in order; every byte used exactly once.
Result<std::vector<server::Tensor>> TensorsFrom(const json& list, std::string_view payload,
                                                const char* what) {
  if (!list.is_array()) return InvalidArgument(std::string("BLS ") + what + " must be an array");
  if (list.size() > kMaxBlsTensors) {
    return InvalidArgument(std::string("BLS: more than ") + std::to_string(kMaxBlsTensors) + " " +
                           what);
  }
  std::vector<server::Tensor> out;
  size_t pos = 0;
  for (const json& t : list) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() ||
        !t.contains("datatype") || !t["datatype"].is_string() || !t.contains("shape") ||
        !t["shape"].is_array() || !t.contains("bytes") || !t["bytes"].is_number_unsigned()) {
      return InvalidArgument(std::string("BLS ") + what +
                             ": each needs name, datatype, shape and bytes");
    }
    server::Tensor tensor;
    tensor.name = t["name"].get<std::string>();
    tensor.datatype = t["datatype"].get<std::string>();
    for (const json& d : t["shape"]) {
      if (!d.is_number_integer()) return InvalidArgument("BLS: a shape holds integers");
      tensor.shape.push_back(d.get<int64_t>());
    }
    const uint64_t bytes = t["bytes"].get<uint64_t>();
    if (bytes > payload.size() - pos) {
      return InvalidArgument("BLS tensor '" + tensor.name + "' runs past the payload");
    }
    tensor.data.assign(payload.substr(pos, bytes));
    pos += bytes;
    MG_RETURN_IF_ERROR(
        server::ValidateTensorData(tensor).WithContext("BLS tensor '" + tensor.name + "'"));
    out.push_back(std::move(tensor));
  }
  if (pos != payload.size()) return InvalidArgument("BLS: payload bytes left over");
  return out;
}

json ParseHeader(std::string_view header) { return json::parse(header, nullptr, false); }

}  // namespace

std::string EncodeBlsRequest(const BlsRequest& r) {
  json header = {{"model", r.model}, {"version", r.version}, {"inputs", TensorsJson(r.inputs)}};
  if (!r.id.empty()) header["id"] = r.id;
  if (r.parameters.is_object() && !r.parameters.empty()) header["parameters"] = r.parameters;
  return Frame(header, r.inputs);
}

std::string EncodeBlsReply(const BlsReply& r) {
  if (!r.status.ok()) {
    return Frame({{"error", r.status.message()}, {"code", StatusCodeName(r.status.code())}}, {});
  }
  return Frame({{"outputs", TensorsJson(r.outputs)}}, r.outputs);
}

Result<BlsRequest> DecodeBlsRequest(std::string_view header, std::string_view payload) {
  const json h = ParseHeader(header);
  if (!h.is_object() || !h.contains("model") || !h["model"].is_string() || !h.contains("version") ||
      !h["version"].is_number_integer() || !h.contains("inputs")) {
    return InvalidArgument("BLS request: a JSON object with model, version and inputs");
  }
  BlsRequest r;
  r.model = h["model"].get<std::string>();
  r.version = h["version"].get<int64_t>();
  if (h.contains("id")) {
    if (!h["id"].is_string()) return InvalidArgument("BLS request: id must be a string");
    r.id = h["id"].get<std::string>();
  }
  if (h.contains("parameters")) {
    const json& p = h["parameters"];
    if (!p.is_object()) return InvalidArgument("BLS request: parameters must be an object");
    for (const auto& [key, value] : p.items()) {
      for (std::string_view reserved : server::kReservedRequestParameters) {
        if (key == reserved) {
          return InvalidArgument("BLS request: parameter \"" + key +
                                 "\" is not supported (no sequence batching, priorities or "
                                 "request timeouts)");
        }
      }
      if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
        return InvalidArgument("BLS request: parameter \"" + key +
                               "\" must be a string, number or boolean");
      }
    }
    r.parameters = p;
  }
  MG_ASSIGN_OR_RETURN(r.inputs, TensorsFrom(h["inputs"], payload, "inputs"));
  return r;
}

Result<BlsReply> DecodeBlsReply(std::string_view header, std::string_view payload) {
  const json h = ParseHeader(header);
  if (!h.is_object()) return InvalidArgument("BLS reply: not a JSON object");
  BlsReply r;
  if (h.contains("error")) {
    if (!h["error"].is_string() || !payload.empty()) {
      return InvalidArgument("BLS reply: an error is a string, with no payload");
    }
    if (h.contains("code") && !h["code"].is_string()) {
      return InvalidArgument("BLS reply: an error's code must be a string");
    }
    const std::string code = h.value("code", std::string("internal"));
    r.status = Status(StatusCodeFromName(code), h["error"].get<std::string>());
    if (r.status.ok()) r.status = Internal(h["error"].get<std::string>());
    return r;
  }
  if (!h.contains("outputs")) return InvalidArgument("BLS reply: no outputs and no error");
  MG_ASSIGN_OR_RETURN(r.outputs, TensorsFrom(h["outputs"], payload, "outputs"));
  return r;
}

namespace {

// Reads exactly `n` bytes into `out` by the deadline.
Status ReadExactly(int fd, Clock::time_point deadline, bool timed, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    int wait = -1;
    if (timed) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Status(StatusCode::kUnavailable, "BLS: no reply in time");
      wait = static_cast<int>(std::min<int64_t>(left, INT_MAX));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, wait);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Status(StatusCode::kUnavailable, "BLS: " + std::string(strerror(errno)));
    if (ready == 0) continue;
    const ssize_t got = ::read(fd, out->data() + done, n - done);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return Status(StatusCode::kUnavailable, "BLS: the other side closed");
    done += static_cast<size_t>(got);
  }
  return Status::Ok();
}

}  // namespace

Status ReadBlsFrame(int fd, int timeout_ms, std::string* header, std::string* payload) {
  const bool timed = timeout_ms >= 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timed ? timeout_ms : 0);
  std::string prefix;
  MG_RETURN_IF_ERROR(ReadExactly(fd, deadline, timed, kPrefixBytes, &prefix));
  const uint64_t header_bytes = GetLE(prefix.data(), 4);
  const uint64_t payload_bytes = GetLE(prefix.data() + 4, 8);
  if (header_bytes > kMaxBlsHeaderBytes || payload_bytes > kMaxBlsPayloadBytes) {
    return InvalidArgument("BLS frame of " + std::to_string(header_bytes) + " + " +
                           std::to_string(payload_bytes) + " bytes is over the limits");
  }
  MG_RETURN_IF_ERROR(ReadExactly(fd, deadline, timed, header_bytes, header));
  return ReadExactly(fd, deadline, timed, payload_bytes, payload);
}

Status WriteBlsFrame(int fd, std::string_view frame) {
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(StatusCode::kUnavailable, "BLS: the other side is gone");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace modelgrid
