// A KServe v2 reply as JSON, with the errors a command-line client reports.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "client/url.h"
#include "common/status.h"

namespace modelgrid::client {

// Turns a reply into its JSON body: kUnavailable when there was no reply ("cannot reach
// the server at URL: why"), kInvalidArgument for 401/403 (API key), kNotFound for 404,
// kInternal for other non-2xx statuses or a body that is not JSON. `what` names the call.
Result<nlohmann::json> JsonReply(const HttpResponse& reply, const Url& url,
                                 const std::string& what);

}  // namespace modelgrid::client
