#include "perf/server_queries.h"

#include <algorithm>

namespace modelgrid::perf {

using client::JsonReply;
using nlohmann::json;

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
