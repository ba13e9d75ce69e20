// Triton's generate extension (HTTP only): POST /v2/models/{m}[/versions/{v}]/generate and
// .../generate_stream, a text-oriented schema for language models.
//
// The request is a JSON object: "id" (optional), "parameters" (optional; custom request
// parameters), and any other property becomes the model input of that name (from the
// model's config: its datatype, and its dims with a variable one sized by the value; with a
// batch dimension of 1 when the model batches) or, when the model has no such input, a
// request parameter. A value is a JSON scalar or (nested) array.
//
// A response is a JSON object: "model_name", "model_version", "id" when the request had
// one, and each output by name: its one element as a JSON value, or its elements as a flat
// array. generate answers exactly one such object (a model that sends more is an error
// naming generate_stream); generate_stream sends each response as a Server-Sent Event
// ("data: {...}\n\n"), an error in the middle as {"error": "..."}, and ends with the
// request. A request refused before any response gets a plain JSON error reply.
#pragma once

#include <functional>
#include <string>

#include "server/inference_service.h"
#include "server/router.h"

namespace modelgrid::server {

// The InferRequest a generate body asks for, given the model's config (Triton's JSON form).
Result<InferRequest> GenerateRequest(const std::string& body, const nlohmann::json& config);

// One response as generate's JSON object.
Result<nlohmann::json> GenerateResponse(const InferResponse& response, const std::string& id);

// Serves one generate (`stream` false) or generate_stream request; `done` is called once
// with the reply (a streamed one for generate_stream once its first response is there).
void HandleGenerate(InferenceService& service, const std::string& model, const std::string& version,
                    const std::string& body, bool stream, std::function<void(HttpReply)> done);

}  // namespace modelgrid::server
