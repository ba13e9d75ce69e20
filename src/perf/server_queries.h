// The few non-inference KServe v2 calls `modelgrid perf` makes before it starts the load.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "client/json_reply.h"
#include "client/url.h"
#include "common/status.h"

namespace modelgrid::perf {

// Names of the ready models: POST /v2/repository/index {"ready":true}; when that answers
// 4xx, GET /v2/models/stats ({"model_stats":[{"name"}]}). Sorted, unique. Blocks.
Result<std::vector<std::string>> ListReadyModels(client::HttpClient& http, const client::Url& url);

// GET /v2/models/{model}. Blocks.
Result<nlohmann::json> FetchModelMetadata(client::HttpClient& http, const client::Url& url,
                                          const std::string& model);

}  // namespace modelgrid::perf
