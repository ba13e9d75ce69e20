#include "client/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace modelgrid::client {

namespace {

void ToLower(std::string& s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

constexpr std::string_view kEof = "eof";

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  std::string key(name);
  ToLower(key);
  auto it = headers.find(key);
  return it == headers.end() ? "" : it->second;
}

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() { Close(); }

HttpResponse HttpClient::Get(const std::string& path, const Headers& extra) {
  return Request("GET", path, {}, extra);
}

HttpResponse HttpClient::Post(const std::string& path, std::string_view body,
                              const Headers& extra) {
  return Request("POST", path, body, extra);
}

HttpResponse HttpClient::Request(const std::string& method, const std::string& path,
                                 std::string_view body, const Headers& extra) {
  HttpResponse r;
  Request(method, path, body, extra, r);
  return r;
}

void HttpClient::Request(const std::string& method, const std::string& path, std::string_view body,
                         const Headers& extra, HttpResponse& out) {
  std::string error = Send(method, path, body, extra);
  if (!error.empty()) {
    out.status = 0;
    out.headers.clear();
    out.body.clear();
    out.error = std::move(error);
    return;
  }
  Receive(out);
}

std::string HttpClient::Send(const std::string& method, const std::string& path,
                             std::string_view body, const Headers& extra) {
  deadline_ = Clock::now() + timeout_;
  if (fd_ < 0) {
    std::string error = Connect();
    if (!error.empty()) return error;
  }
  const bool v6 = host_.find(':') != std::string::npos;
  head_.clear();
  head_.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
  head_.append(v6 ? "[" + host_ + "]" : host_).append(":").append(std::to_string(port_));
  head_.append("\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
  for (const Headers* list : {static_cast<const Headers*>(&default_headers_), &extra}) {
    for (const auto& [name, value] : *list) head_.append(name).append(": ").append(value) += "\r\n";
  }
  head_ += "\r\n";
  std::string error = SendAll(head_);
  if (error.empty()) error = SendAll(body);
  if (!error.empty()) Close();
  return error;
}

HttpResponse HttpClient::Receive() {
  HttpResponse r;
  Receive(r);
  return r;
}

void HttpClient::Receive(HttpResponse& out) {
  out.status = 0;
  out.error.clear();
  out.headers.clear();
  out.body.clear();
  out.error = ReadResponse(out);
  if (!out.error.empty()) {
    out.status = 0;
    Close();
    return;
  }
  std::string connection = out.Header("connection");
  ToLower(connection);
  if (connection.find("close") != std::string::npos) Close();
}

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

// Sets `option` (SO_RCVTIMEO or SO_SNDTIMEO) to the time left; false when none is left.
bool HttpClient::ArmTimeout(int option) {
  const auto left =
      std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - Clock::now()).count();
  if (left <= 0) return false;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(left / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(std::max<int64_t>(left % 1'000'000, 1000));
  return ::setsockopt(fd_, SOL_SOCKET, option, &tv, sizeof tv) == 0;
}

std::string HttpClient::Resolve() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(port_);
  const int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) return "resolve " + host_ + ": " + ::gai_strerror(rc);
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    const char* bytes = reinterpret_cast<const char*>(a->ai_addr);
    addresses_.emplace_back(bytes, bytes + a->ai_addrlen);
    families_.push_back(a->ai_family);
  }
  ::freeaddrinfo(list);
  if (addresses_.empty()) return "resolve " + host_ + ": no address";
  return "";
}

std::string HttpClient::Connect() {
  if (addresses_.empty()) {
    std::string error = Resolve();
    if (!error.empty()) return error;
  }
  std::string error;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    fd_ = ::socket(families_[i], SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!ArmTimeout(SO_SNDTIMEO)) {  // Linux bounds connect() by the send timeout
      Close();
      return "connect: timed out";
    }
    const auto* addr = reinterpret_cast<const sockaddr*>(addresses_[i].data());
    if (::connect(fd_, addr, static_cast<socklen_t>(addresses_[i].size())) == 0) {
      ++connections_;
      return "";
    }
    error = errno == EINPROGRESS ? "connect: timed out"
                                 : std::string("connect: ") + std::strerror(errno);
    Close();
  }
  return error;
}

std::string HttpClient::SendAll(std::string_view data) {
  size_t sent = 0;
  while (sent < data.size()) {
    if (!ArmTimeout(SO_SNDTIMEO)) return "send: timed out";
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "send: timed out";
    if (n <= 0) return std::string("send: ") + std::strerror(errno);
    sent += static_cast<size_t>(n);
  }
  return "";
}

// Appends what arrives to buffer_; "" on success, kEof when the peer closed.
std::string HttpClient::ReadMore() {
  if (!ArmTimeout(SO_RCVTIMEO)) return "recv: timed out";
  char chunk[64 << 10];
  while (true) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return "";
    }
    if (n == 0) return std::string(kEof);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return "recv: timed out";
    return std::string("recv: ") + std::strerror(errno);
  }
}

// Reads until buffer_ holds `n` bytes.
std::string HttpClient::Fill(size_t n) {
  while (buffer_.size() < n) {
    std::string error = ReadMore();
    if (error == kEof) return "connection closed mid-reply";
    if (!error.empty()) return error;
  }
  return "";
}

// Reads one CRLF-terminated line (without the CRLF) from buffer_.
std::string HttpClient::ReadLine(std::string& line) {
  size_t end;
  while ((end = buffer_.find("\r\n")) == std::string::npos) {
    std::string error = ReadMore();
    if (error == kEof) return "connection closed mid-reply";
    if (!error.empty()) return error;
  }
  line.assign(buffer_, 0, end);
  buffer_.erase(0, end + 2);
  return "";
}

std::string HttpClient::ReadResponse(HttpResponse& r) {
  if (fd_ < 0) return "not connected";
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    std::string error = ReadMore();
    if (error == kEof) {
      return buffer_.empty() ? "connection closed before a reply" : "connection closed mid-reply";
    }
    if (!error.empty()) return error;
  }
  const std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);  // HTTP/1.1 200 OK
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
    return "malformed status line: " + status_line;
  }
  const int status = std::atoi(status_line.c_str() + 9);
  if (status < 100 || status > 599) return "malformed status line: " + status_line;
  while (line_end != std::string::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return "malformed header line: " + line;
    std::string name = line.substr(0, colon);
    ToLower(name);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    r.headers[name] = value;
  }
  r.status = status;
  return ReadBody(r);
}

std::string HttpClient::ReadBody(HttpResponse& r) {
  if (r.Header("transfer-encoding").find("chunked") != std::string::npos) {
    while (true) {
      std::string size_line;
      if (std::string error = ReadLine(size_line); !error.empty()) return error;
      const size_t size = std::strtoull(size_line.c_str(), nullptr, 16);
      if (size == 0) {
        std::string trailer;
        do {
          if (std::string error = ReadLine(trailer); !error.empty()) return error;
        } while (!trailer.empty());
        return "";
      }
      if (std::string error = Fill(size + 2); !error.empty()) return error;
      r.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
  }
  if (const std::string length_text = r.Header("content-length"); !length_text.empty()) {
    const size_t length = std::strtoull(length_text.c_str(), nullptr, 10);
    if (std::string error = Fill(length); !error.empty()) return error;
    r.body.assign(buffer_, 0, length);
    buffer_.erase(0, length);
    return "";
  }
  if (r.status == 204 || r.status == 304 || r.status < 200) return "";
  while (true) {  // the body runs to the end of the connection
    std::string error = ReadMore();
    if (error == kEof) break;
    if (!error.empty()) return error;
  }
  r.body = std::move(buffer_);
  buffer_.clear();
  r.headers["connection"] = "close";
  return "";
}

}  // namespace modelgrid::client
