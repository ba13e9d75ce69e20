// A tiny blocking HTTP/1.1 client over POSIX sockets for end-to-end server tests.
//
// Talks to 127.0.0.1:<port>, sends one request at a time with a Content-Length body and
// reads the reply (Content-Length, chunked, or until the server closes). The connection
// is kept alive and reused until the server says "Connection: close" or an error occurs.
// Every socket operation is bounded by the client's timeout (SO_SNDTIMEO/SO_RCVTIMEO
// against one deadline per request), so a test can never hang on a silent server.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace modelgrid::testing {

struct HttpResponse {
  int status = 0;     // 0: no reply (see error)
  std::string error;  // why there was no reply: refused, timed out, closed, malformed
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  // The value of header `name` (any case), or "".
  std::string Header(std::string name) const {
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  explicit HttpClient(uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000))
      : port_(port), timeout_(timeout) {}
  ~HttpClient() { Close(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Get(const std::string& path) { return Request("GET", path); }
  HttpResponse Post(const std::string& path, const std::string& body, const Headers& extra = {}) {
    return Request("POST", path, body, extra);
  }

  HttpResponse Request(const std::string& method, const std::string& path,
                       const std::string& body = "", const Headers& extra = {}) {
    std::string error = Send(method, path, body, extra);
    if (!error.empty()) {
      HttpResponse r;
      r.error = error;
      return r;
    }
    return Receive();
  }

  // The two halves of Request, for tests that act while a request is in flight. Send
  // returns "" on success or why it failed (the connection is then closed).
  std::string Send(const std::string& method, const std::string& path, const std::string& body,
                   const Headers& extra = {}) {
    deadline_ = std::chrono::steady_clock::now() + timeout_;
    if (fd_ < 0) {
      std::string error = Connect();
      if (!error.empty()) return error;
    }
    std::string head = method + " " + path +
                       " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (const auto& [name, value] : extra) head += name + ": " + value + "\r\n";
    head += "\r\n";
    std::string error = SendAll(head);
    if (error.empty()) error = SendAll(body);
    if (!error.empty()) Close();
    return error;
  }

  HttpResponse Receive() {
    HttpResponse r;
    r.error = ReadResponse(r);
    if (!r.error.empty()) {
      r.status = 0;
      Close();
    } else {
      std::string connection = r.Header("connection");
      for (char& c : connection) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      if (connection.find("close") != std::string::npos) Close();
    }
    return r;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

  bool connected() const { return fd_ >= 0; }
  // TCP connections opened so far (keep-alive reuse keeps this at 1).
  int connections_opened() const { return connections_; }

 private:
  using Clock = std::chrono::steady_clock;

  // Sets `option` (SO_RCVTIMEO or SO_SNDTIMEO) to the time left; false when none is left.
  bool ArmTimeout(int option) {
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - Clock::now()).count();
    if (left <= 0) return false;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(left / 1'000'000);
    tv.tv_usec = static_cast<suseconds_t>(std::max<int64_t>(left % 1'000'000, 1000));
    return ::setsockopt(fd_, SOL_SOCKET, option, &tv, sizeof tv) == 0;
  }

  std::string Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ArmTimeout(SO_SNDTIMEO);  // Linux bounds connect() by the send timeout
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      std::string error = std::string("connect: ") + std::strerror(errno);
      Close();
      return error;
    }
    ++connections_;
    return "";
  }

  std::string SendAll(const std::string& data) {
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

  // Appends what arrives to buffer_; "" on success, "eof" when the peer closed.
  std::string ReadMore() {
    if (!ArmTimeout(SO_RCVTIMEO)) return "recv: timed out";
    char chunk[64 << 10];
    while (true) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return "";
      }
      if (n == 0) return "eof";
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return "recv: timed out";
      return std::string("recv: ") + std::strerror(errno);
    }
  }

  // Reads until buffer_ holds `n` bytes.
  std::string Fill(size_t n) {
    while (buffer_.size() < n) {
      std::string error = ReadMore();
      if (error == "eof") return "connection closed mid-reply";
      if (!error.empty()) return error;
    }
    return "";
  }

  // Reads one CRLF-terminated line (without the CRLF) from buffer_.
  std::string ReadLine(std::string& line) {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      std::string error = ReadMore();
      if (error == "eof") return "connection closed mid-reply";
      if (!error.empty()) return error;
    }
    line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return "";
  }

  std::string ReadResponse(HttpResponse& r) {
    if (fd_ < 0) return "not connected";
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      std::string error = ReadMore();
      if (error == "eof") {
        return buffer_.empty() ? "connection closed before a reply" : "connection closed mid-reply";
      }
      if (!error.empty()) return error;
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    // Status line: HTTP/1.1 200 OK
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
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
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      r.headers[name] = value;
    }
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
          break;
        }
        if (std::string error = Fill(size + 2); !error.empty()) return error;
        r.body.append(buffer_, 0, size);
        buffer_.erase(0, size + 2);
      }
    } else if (!r.Header("content-length").empty()) {
      const size_t length = std::strtoull(r.Header("content-length").c_str(), nullptr, 10);
      if (std::string error = Fill(length); !error.empty()) return error;
      r.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (status != 204 && status != 304 && status >= 200) {
      while (true) {  // the body runs to the end of the connection
        std::string error = ReadMore();
        if (error == "eof") break;
        if (!error.empty()) return error;
      }
      r.body = std::move(buffer_);
      r.headers["connection"] = "close";
    }
    r.status = status;
    return "";
  }

  uint16_t port_;
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_{};
  int fd_ = -1;
  int connections_ = 0;
  std::string buffer_;  // bytes read but not yet consumed
};

}  // namespace modelgrid::testing
