// HttpClient: a small blocking HTTP/1.1 client for KServe v2 servers (no TLS).
//
// One client owns at most one TCP connection, sends one request at a time with a
// Content-Length body, and reads the reply (Content-Length, chunked, or until the server
// closes). The connection is kept alive and reused until the server says
// "Connection: close" or an error occurs; the next request then reconnects. Every socket
// operation (connect, send, receive) is bounded by one deadline per request, `timeout`
// after the request starts, so a silent server never hangs the caller. Name resolution
// (getaddrinfo) happens once, on the first connect, and is not bounded by the timeout.
//
// Not thread-safe: use one client per thread. Never throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelgrid::client {

struct HttpResponse {
  int status = 0;     // HTTP status; 0: no reply (see error)
  std::string error;  // why there was no reply: refused, timed out, closed, malformed
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  // The value of header `name` (any case), or "".
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // `host`: a name, IPv4 or IPv6 address (no brackets). Connects lazily.
  HttpClient(std::string host, uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Headers sent with every request before the per-request ones, e.g.
  // {"Authorization", "Bearer KEY"}.
  void set_default_headers(Headers headers) { default_headers_ = std::move(headers); }

  HttpResponse Get(const std::string& path, const Headers& extra = {});
  HttpResponse Post(const std::string& path, std::string_view body, const Headers& extra = {});
  HttpResponse Request(const std::string& method, const std::string& path,
                       std::string_view body = {}, const Headers& extra = {});
  // Request() that fills `out` (cleared first), reusing its buffers: for hot loops.
  void Request(const std::string& method, const std::string& path, std::string_view body,
               const Headers& extra, HttpResponse& out);

  // The two halves of Request, for callers that act while a request is in flight. Send
  // returns "" on success or why it failed (the connection is then closed); it starts the
  // request's deadline. Receive reads the reply to the last Send.
  std::string Send(const std::string& method, const std::string& path, std::string_view body,
                   const Headers& extra = {});
  HttpResponse Receive();
  void Receive(HttpResponse& out);

  // Closes the connection (the next request reconnects).
  void Close();

  bool connected() const { return fd_ >= 0; }
  // TCP connections opened so far (keep-alive reuse keeps this at 1).
  int connections_opened() const { return connections_; }

 private:
  using Clock = std::chrono::steady_clock;

  bool ArmTimeout(int option);
  std::string Connect();
  std::string Resolve();
  std::string SendAll(std::string_view data);
  std::string ReadMore();
  std::string Fill(size_t n);
  std::string ReadLine(std::string& line);
  std::string ReadResponse(HttpResponse& r);
  std::string ReadBody(HttpResponse& r);

  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;
  Headers default_headers_;
  std::vector<std::vector<char>> addresses_;  // resolved sockaddrs, tried in order
  std::vector<int> families_;                 // address family of each entry
  Clock::time_point deadline_{};
  int fd_ = -1;
  int connections_ = 0;
  std::string head_;    // request head being sent (reused)
  std::string buffer_;  // bytes read but not yet consumed
};

}  // namespace modelgrid::client
