// Router: maps a KServe v2 HTTP request to an InferenceService call and builds the reply.
//
// Transport-free (no Beast): http_server hands it a parsed request and sends back what it
// answers, so routing and status mapping are testable without sockets.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/inference_service.h"
#include "server/reply_stream.h"
#include "server/shared_memory.h"

namespace modelgrid::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path with an optional query string, e.g. "/v2/models/m/infer"
  // Raw value of the Inference-Header-Content-Length header, when the request has one.
  std::optional<std::string> inference_header_length;
  std::string body;
  std::optional<std::string> authorization;  // the Authorization header, when present
  std::optional<std::string> content_encoding = std::nullopt;  // the body's coding
  std::optional<std::string> accept_encoding = std::nullopt;   // codings taken for the reply
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::optional<size_t> inference_header_length;  // set for binary infer responses
  std::string allow;                              // the Allow header of a 405 reply
  std::string www_authenticate;                   // the WWW-Authenticate header of a 401
  std::string content_encoding;                   // the body's coding when compressed
  // A body written while it is produced (generate_stream): the session sends the headers,
  // then the stream's pieces as they come (chunked), instead of `body`.
  std::shared_ptr<ReplyStream> stream;
};

struct RouterOptions {
  // When not empty, every endpoint but /v2/health/live needs "Authorization: Bearer <key>";
  // other requests get 401.
  std::string api_key;
  // The largest request body once decoded (Content-Encoding); a larger one gets 413.
  uint64_t max_body_bytes = uint64_t{64} << 20;
  // The registered shared-memory regions, borrowed so that every front end sees the same
  // ones (it must outlive the Router); null: the Router keeps its own.
  SystemSharedMemory* shared_memory = nullptr;
};

// Whether `authorization` is "Bearer <key>" (scheme case-insensitive), compared in
// constant time.
bool BearerMatches(const std::optional<std::string>& authorization, const std::string& key);

// {"error": message} with the given HTTP status.
HttpReply ErrorReply(int http_status, const std::string& message);
// The error reply for a non-OK Status (HTTP status from HttpStatusFor).
HttpReply ErrorReply(const Status& status);

class Router {
 public:
  // `service` is borrowed and must outlive the Router and every pending reply callback.
  explicit Router(InferenceService& service, RouterOptions options = {})
      : service_(service),
        options_(std::move(options)),
        own_shm_(options_.shared_memory ? nullptr : std::make_unique<SystemSharedMemory>()),
        shm_(options_.shared_memory ? *options_.shared_memory : *own_shm_) {}

  // Handles one request. `done` is called exactly once with the reply: before Handle
  // returns for everything but inference, and from the service's thread for inference.
  // Thread-safe; never throws.
  void Handle(HttpRequest request, std::function<void(HttpReply)> done);

 private:
  InferenceService& service_;
  const RouterOptions options_;
  const std::unique_ptr<SystemSharedMemory> own_shm_;
  SystemSharedMemory& shm_;  // the regions clients registered
};

}  // namespace modelgrid::server
