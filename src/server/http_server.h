// HttpServer: the KServe v2 HTTP/1.1 front end of `modelgrid serve`.
//
// Accepts connections on I/O threads (Boost.Asio, one event loop per thread), reads
// requests with Boost.Beast, routes them (router.h) to an InferenceService and writes the
// replies. Connections are kept alive between requests; each serves one request at a time.
// The service may also run on the I/O threads (InferenceService::UseEventLoop). Beast and
// Asio stay inside the server's .cc files: this header pulls in neither.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/inference_service.h"
#include "server/shared_memory.h"

namespace modelgrid::server {

struct ServerOptions {
  // Address to listen on. The default keeps the server private to this machine; use
  // "0.0.0.0" (or "::") to serve other machines.
  std::string address = "127.0.0.1";
  // TCP port; 0 picks a free one (HttpServer::port() tells which).
  uint16_t port = 8000;
  // Threads that run the sockets and the synchronous handlers; 0 picks DefaultIoThreads().
  // Inference itself runs in the service; more threads help only when many connections
  // are busy at once, and each one idle costs nothing.
  int io_threads = 0;
  // Largest request body accepted. A request that declares more gets 413 before its body
  // is read (chunked bodies: as soon as they pass the limit), then the connection closes.
  size_t max_body_bytes = size_t{64} << 20;
  // Largest request line plus headers; more gets 431 and the connection closes.
  size_t max_header_bytes = size_t{16} << 10;
  // A connection is closed when nothing moves on it for this long: no new request, no
  // body bytes, or a reply the client does not read. The request line and headers must
  // arrive within one period. Time spent waiting for the service does not count. A request
  // cut off part-way gets 408 before the connection closes.
  int64_t idle_timeout_ms = 60'000;
  // The whole request (request line, headers and body) must arrive within this long of its
  // first byte, however steadily it trickles in; past it the server answers 408 and closes.
  // Deadlines are checked by a sweep every idle_timeout_ms / 4 (10 ms to 1 s), so one fires
  // up to a sweep period late. 64 MiB in 120 s is 4.5 Mbit/s.
  int64_t request_timeout_ms = 120'000;
  // Open connections at most, and per client address (0: no per-client limit; behind a
  // proxy every client has the proxy's address). A connection over either limit is
  // accepted, answered 503 with the reason and closed.
  size_t max_connections = 4096;
  size_t max_connections_per_client = 0;
  // Pending connections the kernel queues before accept.
  int listen_backlog = 1024;
  // When not empty, every endpoint but /v2/health/live needs "Authorization: Bearer <key>".
  std::string api_key;
  // The registered shared-memory regions, shared with the other front ends (borrowed; must
  // outlive the server); null: the server keeps its own.
  SystemSharedMemory* shared_memory = nullptr;
};

// One I/O thread per four cores, between 1 and 16: parsing and encoding take a fraction of
// what the workers' inference takes, and the workers need the cores.
int DefaultIoThreads();

class HttpServer {
 public:
  // Binds, listens and starts the I/O threads. `service` is borrowed: it must outlive the
  // server, and must not call an Infer callback after the server is destroyed unless it
  // is prepared for that callback to be dropped (it is, safely). Fails with kUnavailable
  // when the address cannot be bound, kInvalidArgument for a bad address or option.
  static Result<std::unique_ptr<HttpServer>> Start(const ServerOptions& options,
                                                   InferenceService& service);

  // Stops with a zero deadline if Stop() was not called.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound (the chosen one when options.port was 0).
  uint16_t port() const;

  // Graceful shutdown: stops accepting, closes idle connections, lets requests already
  // being handled finish and answers them with "Connection: close", and waits for them up
  // to `deadline`; then closes whatever is left and joins the I/O threads. Blocks; call it
  // from outside the I/O threads (never from a service callback). Idempotent.
  void Stop(std::chrono::milliseconds deadline = std::chrono::seconds(30));

  // Requests read but not yet answered (for tests and metrics). Thread-safe.
  int in_flight() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrid::server
