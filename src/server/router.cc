#include "server/router.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <exception>
#include <memory>
#include <string_view>
#include <vector>

#include "server/compression.h"
#include "server/generate.h"
#include "server/json_limits.h"
#include "server/logging_extension.h"
#include "server/tensor_codec.h"

namespace modelgrid::server {
namespace {

using nlohmann::json;

HttpReply JsonReply(int http_status, const json& body) {
  HttpReply reply;
  reply.status = http_status;
  reply.body = DumpJson(body);
  return reply;
}

HttpReply FromResult(const Result<json>& result) {
  if (!result.ok()) return ErrorReply(result.status());
  return JsonReply(200, *result);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits the path of `target` into percent-decoded segments; nullopt when malformed.
std::optional<std::vector<std::string>> SplitPath(std::string_view target) {
  if (size_t q = target.find_first_of("?#"); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  if (target.empty() || target[0] != '/') return std::nullopt;
  std::vector<std::string> segments;
  std::string current;
  for (size_t i = 1; i <= target.size(); ++i) {
    if (i == target.size() || target[i] == '/') {
      if (current.empty()) {
        if (i == target.size()) break;  // tolerate one trailing slash
        return std::nullopt;            // empty segment such as "//"
      }
      segments.push_back(std::move(current));
      current.clear();
      continue;
    }
    if (target[i] == '%') {
      if (i + 2 >= target.size()) return std::nullopt;
      const int hi = HexDigit(target[i + 1]);
      const int lo = HexDigit(target[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      current.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
      continue;
    }
    current.push_back(target[i]);
  }
  return segments;
}

enum class Endpoint {
  kLive,
  kReady,
  kServerMetadata,
  kModelMetadata,
  kModelReady,
  kStats,
  kInfer,
  kMetrics,
  kStatus,
  kRepositoryIndex,
  kLoad,
  kUnload,
  kMove,
  kReplan,
  kModelConfig,
  kShmStatus,
  kShmRegister,
  kShmUnregister,
  kCudaShmStatus,
  kCudaShmRegister,
  kCudaShmUnregister,
  kLogging,
  kTrace,
  kGenerate,
  kGenerateStream,
};

// The methods each endpoint answers, as an Allow header lists them.
const char* MethodsFor(Endpoint e) {
  switch (e) {
    case Endpoint::kInfer:
    case Endpoint::kGenerate:
    case Endpoint::kGenerateStream:
    case Endpoint::kRepositoryIndex:
    case Endpoint::kLoad:
    case Endpoint::kUnload:
    case Endpoint::kMove:
    case Endpoint::kReplan:
    case Endpoint::kShmRegister:
    case Endpoint::kShmUnregister:
    case Endpoint::kCudaShmRegister:
    case Endpoint::kCudaShmUnregister:
      return "POST";
    case Endpoint::kLogging:
    case Endpoint::kTrace:
      return "GET, POST";
    default:
      return "GET";
  }
}

bool MethodAllowed(Endpoint e, const std::string& method) {
  const std::string_view allowed = MethodsFor(e);
  return method == allowed || (allowed == "GET, POST" && (method == "GET" || method == "POST"));
}

struct Route {
  Endpoint endpoint;
  std::string model;
  std::string version;
  std::string region = "";  // shared-memory endpoints: the region ("" = all)
};

// /v2/{system,cuda}sharedmemory[/region/{r}]/status|register|unregister.
std::optional<Route> MatchSharedMemory(const std::vector<std::string>& s, bool cuda) {
  std::string region;
  size_t next = 2;
  if (s.size() >= 4 && s[2] == "region") {
    region = s[3];
    next = 4;
  }
  if (s.size() != next + 1) return std::nullopt;
  const std::string& action = s[next];
  Endpoint e;
  if (action == "status") {
    e = cuda ? Endpoint::kCudaShmStatus : Endpoint::kShmStatus;
  } else if (action == "register" && !region.empty()) {
    e = cuda ? Endpoint::kCudaShmRegister : Endpoint::kShmRegister;
  } else if (action == "unregister") {
    e = cuda ? Endpoint::kCudaShmUnregister : Endpoint::kShmUnregister;
  } else {
    return std::nullopt;
  }
  return Route{e, "", "", region};
}

// Matches /v2/models/{m}[/versions/{v}][/ready|/stats|/infer|/generate|/generate_stream]
// and the server routes.
// Also /metrics, /v2/repository/index, /v2/repository/models/{m}/load|unload and the
// ModelGrid extensions /v2/modelgrid/status|replan and /v2/modelgrid/models/{m}/move.
std::optional<Route> Match(const std::vector<std::string>& s) {
  if (s.size() == 1 && s[0] == "metrics") return Route{Endpoint::kMetrics, "", ""};
  if (s.empty() || s[0] != "v2") return std::nullopt;
  if (s.size() == 1) return Route{Endpoint::kServerMetadata, "", ""};
  if (s[1] == "repository") {
    if (s.size() == 3 && s[2] == "index") return Route{Endpoint::kRepositoryIndex, "", ""};
    if (s.size() == 5 && s[2] == "models" && s[4] == "load")
      return Route{Endpoint::kLoad, s[3], ""};
    if (s.size() == 5 && s[2] == "models" && s[4] == "unload") {
      return Route{Endpoint::kUnload, s[3], ""};
    }
    return std::nullopt;
  }
  if (s[1] == "modelgrid") {
    if (s.size() == 3 && s[2] == "status") return Route{Endpoint::kStatus, "", ""};
    if (s.size() == 3 && s[2] == "replan") return Route{Endpoint::kReplan, "", ""};
    if (s.size() == 5 && s[2] == "models" && s[4] == "move")
      return Route{Endpoint::kMove, s[3], ""};
    return std::nullopt;
  }
  if (s[1] == "systemsharedmemory") return MatchSharedMemory(s, false);
  if (s[1] == "cudasharedmemory") return MatchSharedMemory(s, true);
  if (s[1] == "logging" && s.size() == 2) return Route{Endpoint::kLogging, "", ""};
  if (s[1] == "trace" && s.size() == 3 && s[2] == "setting") return Route{Endpoint::kTrace, "", ""};
  if (s[1] == "health" && s.size() == 3) {
    if (s[2] == "live") return Route{Endpoint::kLive, "", ""};
    if (s[2] == "ready") return Route{Endpoint::kReady, "", ""};
    return std::nullopt;
  }
  if (s[1] != "models" || s.size() < 3) return std::nullopt;
  if (s.size() == 3 && s[2] == "stats") return Route{Endpoint::kStats, "", ""};
  Route route{Endpoint::kModelMetadata, s[2], ""};
  size_t next = 3;
  if (s.size() >= 5 && s[3] == "versions") {
    route.version = s[4];
    next = 5;
  }
  if (next == s.size()) return route;
  if (next + 2 == s.size() && s[next] == "trace" && s[next + 1] == "setting") {
    route.endpoint = Endpoint::kTrace;
    return route;
  }
  if (next + 1 != s.size()) return std::nullopt;
  if (s[next] == "ready") {
    route.endpoint = Endpoint::kModelReady;
  } else if (s[next] == "stats") {
    route.endpoint = Endpoint::kStats;
  } else if (s[next] == "infer") {
    route.endpoint = Endpoint::kInfer;
  } else if (s[next] == "generate") {
    route.endpoint = Endpoint::kGenerate;
  } else if (s[next] == "generate_stream") {
    route.endpoint = Endpoint::kGenerateStream;
  } else if (s[next] == "config") {
    route.endpoint = Endpoint::kModelConfig;
  } else {
    return std::nullopt;
  }
  return route;
}

Result<std::optional<size_t>> ParseHeaderLength(const std::optional<std::string>& value) {
  if (!value) return std::optional<size_t>();
  size_t n = 0;
  const char* begin = value->data();
  const char* end = begin + value->size();
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || ptr != end || value->empty()) {
    return InvalidArgument("bad Inference-Header-Content-Length \"" + *value + "\"");
  }
  return std::optional<size_t>(n);
}

void HandleInfer(InferenceService& service, SystemSharedMemory& shm, Route route, HttpRequest& http,
                 std::function<void(HttpReply)>& done) {
  auto header_length = ParseHeaderLength(http.inference_header_length);
  if (!header_length.ok()) return done(ErrorReply(header_length.status()));
  auto decoded = DecodeInferRequest(http.body, *header_length);
  if (!decoded.ok()) return done(ErrorReply(decoded.status()));
  InferRequest request = std::move(decoded).value();
  request.model = route.model;
  request.version = route.version;
  // Inputs in shared memory are read now; output regions are held until the reply is written.
  auto out_regions = ResolveSharedMemory(shm, &request);
  if (!out_regions.ok()) return done(ErrorReply(out_regions.status()));
  InferRequest info = ReplyInfo(request);
  http.body.clear();
  service.Infer(std::move(request), [info = std::move(info),
                                     out_regions = std::move(out_regions).value(),
                                     done = std::move(done)](Result<InferResponse> result) {
    if (!result.ok()) return done(ErrorReply(result.status()));
    Status written = WriteSharedMemoryOutputs(out_regions, info.output_regions, result->outputs);
    if (!written.ok()) return done(ErrorReply(written));
    auto encoded = EncodeInferResponse(*result, info);
    if (!encoded.ok()) return done(ErrorReply(encoded.status()));
    HttpReply reply;
    reply.body = std::move(encoded->body);
    reply.inference_header_length = encoded->header_length;
    if (reply.inference_header_length) reply.content_type = "application/octet-stream";
    done(std::move(reply));
  });
}

// /v2/systemsharedmemory and /v2/cudasharedmemory.
void DispatchSharedMemory(SystemSharedMemory& shm, const Route& route, const json& body,
                          std::function<void(HttpReply)>& done) {
  switch (route.endpoint) {
    case Endpoint::kShmStatus:
      return done(FromResult(shm.RegionStatus(route.region)));
    case Endpoint::kShmRegister: {
      for (const auto& [key, value] : body.items()) {
        if (key != "key" && key != "offset" && key != "byte_size") {
          return done(ErrorReply(400, "register: field \"" + key + "\" is not supported"));
        }
      }
      if (!body.contains("key") || !body["key"].is_string()) {
        return done(ErrorReply(400, "register needs a \"key\" string"));
      }
      uint64_t numbers[2] = {0, 0};
      const char* names[2] = {"offset", "byte_size"};
      for (int i = 0; i < 2; ++i) {
        if (!body.contains(names[i])) {
          if (i == 0) continue;
          return done(ErrorReply(400, "register needs \"byte_size\""));
        }
        const json& v = body[names[i]];
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
          return done(
              ErrorReply(400, std::string("\"") + names[i] + "\" must be a non-negative integer"));
        }
        numbers[i] = v.get<uint64_t>();
      }
      Status st =
          shm.Register(route.region, body["key"].get<std::string>(), numbers[0], numbers[1]);
      return done(st.ok() ? JsonReply(200, json::object()) : ErrorReply(st));
    }
    case Endpoint::kShmUnregister:
      if (!body.empty()) return done(ErrorReply(400, "unregister takes no fields"));
      shm.Unregister(route.region);
      return done(JsonReply(200, json::object()));
    case Endpoint::kCudaShmStatus:
      // Nothing can be registered in a build without CUDA.
      if (!route.region.empty()) {
        return done(ErrorReply(400, "no CUDA shared memory region '" + route.region + "'"));
      }
      return done(JsonReply(200, json::array()));
    case Endpoint::kCudaShmRegister:
      return done(ErrorReply(400,
                             "CUDA shared memory is not supported by this server: its "
                             "server process has no CUDA (use system shared memory)"));
    case Endpoint::kCudaShmUnregister:
      return done(JsonReply(200, json::object()));
    default:
      return done(ErrorReply(500, "internal error: unrouted endpoint"));
  }
}

// The body of a control request: a JSON object, {} when empty.
Result<json> ControlBody(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  MG_RETURN_IF_ERROR(CheckJsonLimits(body));
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument("the request body must be a JSON object");
  }
  return j;
}

// Repository and ModelGrid control endpoints (all POST with an optional JSON body).
void DispatchControl(InferenceService& service, SystemSharedMemory& shm, const Route& route,
                     HttpRequest& http, std::function<void(HttpReply)>& done) {
  Result<json> body = ControlBody(http.body);
  if (!body.ok()) return done(ErrorReply(body.status()));
  auto reply = [done](Result<json> result) { done(FromResult(result)); };
  switch (route.endpoint) {
    case Endpoint::kShmStatus:
    case Endpoint::kShmRegister:
    case Endpoint::kShmUnregister:
    case Endpoint::kCudaShmStatus:
    case Endpoint::kCudaShmRegister:
    case Endpoint::kCudaShmUnregister:
      return DispatchSharedMemory(shm, route, *body, done);
    case Endpoint::kLogging:
      if (http.method == "GET") return done(JsonReply(200, LogSettingsJson()));
      return done(FromResult(UpdateLogSettings(*body)));
    case Endpoint::kTrace:
      return done(ErrorReply(400,
                             "the trace extension is not supported by ModelGrid (its "
                             "timings are in /v2/models/{m}/stats and /metrics)"));
    case Endpoint::kRepositoryIndex: {
      for (const auto& [key, value] : body->items()) {
        if (key != "ready") {
          return done(ErrorReply(400, "repository index: field \"" + key + "\" is not supported"));
        }
        if (!value.is_boolean()) return done(ErrorReply(400, "\"ready\" must be a boolean"));
      }
      const bool ready_only = body->value("ready", false);
      return done(FromResult(service.RepositoryIndex(ready_only)));
    }
    case Endpoint::kLoad:
      return service.LoadModel(route.model, *body, reply);
    case Endpoint::kUnload:
      return service.UnloadModel(route.model, *body, reply);
    case Endpoint::kMove:
      return service.MoveModel(route.model, *body, reply);
    case Endpoint::kReplan:
      return service.Replan(*body, reply);
    default:
      return done(ErrorReply(500, "internal error: unrouted endpoint"));
  }
}

void Dispatch(InferenceService& service, SystemSharedMemory& shm, const Route& route,
              HttpRequest& http, std::function<void(HttpReply)>& done) {
  switch (route.endpoint) {
    case Endpoint::kLive: {
      const bool live = service.Live();
      return done(JsonReply(live ? 200 : 503, {{"live", live}}));
    }
    case Endpoint::kReady: {
      const bool ready = service.Ready();
      return done(JsonReply(ready ? 200 : 503, {{"ready", ready}}));
    }
    case Endpoint::kServerMetadata:
      return done(FromResult(service.ServerMetadata()));
    case Endpoint::kModelMetadata:
      return done(FromResult(service.ModelMetadata(route.model, route.version)));
    case Endpoint::kStats:
      return done(FromResult(service.ModelStats(route.model, route.version)));
    case Endpoint::kModelReady: {
      Result<bool> ready = service.ModelReady(route.model, route.version);
      if (!ready.ok()) return done(ErrorReply(ready.status()));
      json body = {{"name", route.model}, {"ready", *ready}};
      if (!route.version.empty()) body["version"] = route.version;
      if (!*ready) body["error"] = "model \"" + route.model + "\" is not ready";
      return done(JsonReply(*ready ? 200 : 503, body));
    }
    case Endpoint::kInfer:
      return HandleInfer(service, shm, route, http, done);
    case Endpoint::kGenerate:
    case Endpoint::kGenerateStream:
      return HandleGenerate(service, route.model, route.version, http.body,
                            route.endpoint == Endpoint::kGenerateStream, std::move(done));
    case Endpoint::kModelConfig:
      return done(FromResult(service.ModelConfig(route.model, route.version)));
    case Endpoint::kMetrics: {
      Result<std::string> text = service.Metrics();
      if (!text.ok()) return done(ErrorReply(text.status()));
      HttpReply reply;
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      reply.body = std::move(text).value();
      return done(std::move(reply));
    }
    case Endpoint::kStatus:
      return done(FromResult(service.ServerStatus()));
    default:
      return DispatchControl(service, shm, route, http, done);
  }
}

}  // namespace

bool BearerMatches(const std::optional<std::string>& authorization, const std::string& key) {
  constexpr std::string_view kScheme = "Bearer ";
  if (!authorization || authorization->size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>((*authorization)[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  const std::string_view token = std::string_view(*authorization).substr(kScheme.size());
  // Constant time in the key's content: every byte is compared whatever differs first.
  unsigned char diff = token.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < key.size(); ++i) {
    diff |= static_cast<unsigned char>(key[i] ^ (i < token.size() ? token[i] : 0));
  }
  return diff == 0;
}

HttpReply ErrorReply(int http_status, const std::string& message) {
  return JsonReply(http_status, {{"error", message}});
}

HttpReply ErrorReply(const Status& status) {
  return ErrorReply(HttpStatusFor(status.code()), status.message());
}

void Router::Handle(HttpRequest request, std::function<void(HttpReply)> done) {
  std::optional<std::vector<std::string>> segments = SplitPath(request.target);
  std::optional<Route> route;
  if (segments) route = Match(*segments);
  if (!route) return done(ErrorReply(404, "no route for " + request.target));
  if (!options_.api_key.empty() && route->endpoint != Endpoint::kLive &&
      !BearerMatches(request.authorization, options_.api_key)) {
    HttpReply reply =
        ErrorReply(401, "missing or wrong API key: send 'Authorization: Bearer <key>'");
    reply.www_authenticate = "Bearer realm=\"modelgrid\"";
    return done(std::move(reply));
  }
  const char* allowed = MethodsFor(route->endpoint);
  if (!MethodAllowed(route->endpoint, request.method)) {
    HttpReply reply = ErrorReply(405, "method " + request.method + " is not allowed on " +
                                          request.target + "; use " + allowed);
    reply.allow = allowed;
    return done(std::move(reply));
  }
  // A throwing service is a bug there; it must not take the server down. Whichever of the
  // service's callback and the exception handler comes first answers; the other is dropped.
  struct Once {
    std::atomic<bool> called{false};
    std::function<void(HttpReply)> done;
    void Call(HttpReply reply) {
      if (!called.exchange(true)) done(std::move(reply));
    }
  };
  // The body as sent, decoded; the reply compressed as the client accepts.
  if (request.content_encoding) {
    auto coding = ParseContentEncoding(*request.content_encoding);
    if (!coding.ok()) return done(ErrorReply(415, coding.status().message()));
    auto body = Decompress(request.body, *coding, options_.max_body_bytes);
    if (!body.ok()) {
      const int status = body.status().code() == StatusCode::kOutOfRange ? 413 : 400;
      return done(ErrorReply(status, body.status().message()));
    }
    request.body = std::move(body).value();
  }
  const ContentCoding reply_coding = request.accept_encoding
                                         ? PreferredCoding(*request.accept_encoding)
                                         : ContentCoding::kIdentity;
  if (reply_coding != ContentCoding::kIdentity) {
    done = [coding = reply_coding, done = std::move(done)](HttpReply reply) {
      if (reply.stream) return done(std::move(reply));  // streamed as it comes
      if (auto packed = Compress(reply.body, coding); packed.ok()) {
        reply.body = std::move(packed).value();
        reply.content_encoding = ContentCodingName(coding);
      }
      done(std::move(reply));
    };
  }
  auto once = std::make_shared<Once>();
  once->done = std::move(done);
  std::function<void(HttpReply)> reply_once = [once](HttpReply reply) {
    once->Call(std::move(reply));
  };
  try {
    Dispatch(service_, shm_, *route, request, reply_once);
  } catch (const std::exception& e) {
    once->Call(ErrorReply(500, std::string("internal error: ") + e.what()));
  } catch (...) {
    once->Call(ErrorReply(500, "internal error"));
  }
}

}  // namespace modelgrid::server
