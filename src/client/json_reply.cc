#include "client/json_reply.h"

namespace modelgrid::client {

using nlohmann::json;

Result<json> JsonReply(const HttpResponse& reply, const Url& url, const std::string& what) {
  if (reply.status == 0) {
    return Status(StatusCode::kUnavailable,
                  "cannot reach the server at " + url.ToString() + ": " + reply.error);
  }
  const std::string body = reply.body.substr(0, 300);
  if (reply.status == 401 || reply.status == 403) {
    return InvalidArgument(what + ": the server refused the API key (HTTP " +
                           std::to_string(reply.status) +
                           "); pass --api-key or set MODELGRID_API_KEY: " + body);
  }
  if (reply.status == 404) return NotFound(what + ": HTTP 404: " + body);
  if (reply.status < 200 || reply.status > 299) {
    return Internal(what + ": HTTP " + std::to_string(reply.status) + ": " + body);
  }
  json doc = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Internal(what + ": the reply is not JSON: " + body);
  return doc;
}

}  // namespace modelgrid::client
