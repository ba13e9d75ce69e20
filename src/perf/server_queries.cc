#include "perf/server_queries.h"

#include <algorithm>

namespace modelgrid::perf {

using nlohmann::json;

Result<json> JsonReply(const client::HttpResponse& reply, const client::Url& url,
                       const std::string& what) {
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

Result<std::vector<std::string>> ListReadyModels(client::HttpClient& http, const client::Url& url) {
  std::vector<std::string> names;
  const client::HttpResponse index =
      http.Post(url.Path("/v2/repository/index"), R"({"ready":true})",
                {{"Content-Type", "application/json"}});
  if (index.status >= 400 && index.status < 500 && index.status != 401 && index.status != 403) {
    MG_ASSIGN_OR_RETURN(json stats, JsonReply(http.Get(url.Path("/v2/models/stats")), url,
                                              "listing models (GET /v2/models/stats)"));
    if (!stats.contains("model_stats") || !stats["model_stats"].is_array()) {
      return Internal("GET /v2/models/stats: no \"model_stats\" array");
    }
    for (const json& m : stats["model_stats"]) {
      if (m.is_object() && m.contains("name") && m["name"].is_string()) {
        names.push_back(m["name"].get<std::string>());
      }
    }
  } else {
    MG_ASSIGN_OR_RETURN(json doc, JsonReply(index, url, "listing models (repository index)"));
    if (!doc.is_array()) return Internal("repository index: expected an array");
    for (const json& m : doc) {
      const bool ready = !m.contains("state") || m["state"] == "READY";
      if (ready && m.is_object() && m.contains("name") && m["name"].is_string()) {
        names.push_back(m["name"].get<std::string>());
      }
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (names.empty()) return NotFound("the server at " + url.ToString() + " has no ready model");
  return names;
}

Result<json> FetchModelMetadata(client::HttpClient& http, const client::Url& url,
                                const std::string& model) {
  return JsonReply(http.Get(url.Path("/v2/models/" + model)), url,
                   "metadata of model \"" + model + "\"");
}

}  // namespace modelgrid::perf
