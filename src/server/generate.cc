#include "server/generate.h"

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "server/json_limits.h"
#include "server/tensor_codec.h"

namespace modelgrid::server {

namespace {

using nlohmann::json;

// Elements of a JSON scalar or (nested) array.
int64_t LeafCount(const json& value) {
  if (!value.is_array()) return 1;
  int64_t n = 0;
  for (const json& v : value) n += LeafCount(v);
  return n;
}

// The shape of input `name` holding `count` elements: its dims with the one variable dim
// sized to fit, with a batch dimension of 1 when the model batches.
Result<std::vector<int64_t>> InputShape(const std::string& name, const json& dims, bool batched,
                                        int64_t count) {
  std::vector<int64_t> shape;
  int64_t fixed = 1;
  int variable = -1;
  for (const json& d : dims) {
    if (!d.is_number_integer()) return Internal("the config of input '" + name + "' is malformed");
    const auto v = d.get<int64_t>();
    if (v < 0) {
      if (variable >= 0) {
        return InvalidArgument("input '" + name +
                               "' has several variable dims: generate cannot shape it (use "
                               "infer)");
      }
      variable = static_cast<int>(shape.size());
    } else {
      fixed *= v;
    }
    shape.push_back(v);
  }
  if (variable >= 0) {
    if (fixed == 0 || count % fixed != 0) {
      return InvalidArgument("input '" + name + "' takes a multiple of " + std::to_string(fixed) +
                             " elements, got " + std::to_string(count));
    }
    shape[static_cast<size_t>(variable)] = count / fixed;
  }
  if (batched) shape.insert(shape.begin(), 1);
  return shape;
}

// The KServe datatype of a config data_type ("TYPE_FP32" -> "FP32", "TYPE_STRING" -> "BYTES").
std::string Datatype(const std::string& data_type) {
  if (data_type == "TYPE_STRING") return "BYTES";
  return data_type.rfind("TYPE_", 0) == 0 ? data_type.substr(5) : data_type;
}

}  // namespace

Result<InferRequest> GenerateRequest(const std::string& body, const json& config) {
  MG_RETURN_IF_ERROR(CheckJsonLimits(body));
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("the generate request must be a JSON object");
  }
  const bool batched = config.value("max_batch_size", 0) > 0;
  const json declared = config.value("input", json::array());
  std::map<std::string, const json*> inputs;  // into `declared`
  for (const json& in : declared) {
    if (in.contains("name") && in["name"].is_string()) inputs[in["name"]] = &in;
  }
  InferRequest req;
  auto parameter = [&](const std::string& key, const json& value) -> Status {
    MG_RETURN_IF_ERROR(CheckRequestParameter(key, value));
    req.parameters[key] = value;
    return Status::Ok();
  };
  for (const auto& [key, value] : doc.items()) {
    if (key == "id") {
      if (!value.is_string()) return InvalidArgument("\"id\" must be a string");
      req.id = value.get<std::string>();
    } else if (key == "parameters") {
      if (!value.is_object()) return InvalidArgument("\"parameters\" must be an object");
      for (const auto& [name, v] : value.items()) MG_RETURN_IF_ERROR(parameter(name, v));
    } else if (auto it = inputs.find(key); it != inputs.end()) {
      const json& spec = *it->second;
      Tensor t;
      t.name = key;
      t.datatype = Datatype(spec.value("data_type", ""));
      MG_ASSIGN_OR_RETURN(
          t.shape, InputShape(key, spec.value("dims", json::array()), batched, LeafCount(value)));
      const json data = value.is_array() ? value : json::array({value});
      auto bytes = EncodeJsonData(data, t.datatype, t.shape);
      if (!bytes.ok()) return bytes.status().WithContext("input '" + key + "'");
      t.data = std::move(bytes).value();
      req.inputs.push_back(std::move(t));
    } else {
      // Not an input of the model: a request parameter, as Triton passes it.
      MG_RETURN_IF_ERROR(parameter(key, value));
    }
  }
  return req;
}

Result<json> GenerateResponse(const InferResponse& response, const std::string& id) {
  json out = json::object();
  out["model_name"] = response.model;
  out["model_version"] = response.version;
  if (!id.empty()) out["id"] = id;
  for (const Tensor& t : response.outputs) {
    MG_ASSIGN_OR_RETURN(json values, DecodeJsonData(t));
    out[t.name] = values.size() == 1 ? values[0] : values;
  }
  return out;
}

namespace {

// One generate or generate_stream request, between its responses.
struct Generation {
  std::mutex mu;
  std::function<void(HttpReply)> done;  // until the reply (or the stream) is handed over
  std::string id;
  std::shared_ptr<ReplyStream> stream;         // generate_stream, once started
  std::optional<Result<InferResponse>> first;  // generate: the one response
  int responses = 0;
};

HttpReply JsonOk(const json& body) {
  HttpReply reply;
  reply.body = DumpJson(body);
  return reply;
}

std::string Event(const json& body) { return "data: " + DumpJson(body) + "\n\n"; }

// generate: collects the one response, answers at the end.
void OnGenerateResponse(Generation& g, const std::string& model,
                        std::optional<Result<InferResponse>> response, bool final) {
  std::lock_guard<std::mutex> lock(g.mu);
  if (response) {
    ++g.responses;
    if (!g.first) g.first = std::move(response);
  }
  if (!final || !g.done) return;
  auto done = std::move(g.done);
  g.done = nullptr;
  if (g.responses > 1) {
    return done(ErrorReply(400, "model '" + model + "' sent " + std::to_string(g.responses) +
                                    " responses; generate returns one: use generate_stream"));
  }
  if (!g.first) {
    return done(ErrorReply(500, "model '" + model + "' ended the request without a response"));
  }
  if (!g.first->ok()) return done(ErrorReply(g.first->status()));
  auto body = GenerateResponse(**g.first, g.id);
  done(body.ok() ? JsonOk(*body) : ErrorReply(body.status()));
}

// generate_stream: the first response starts the stream (an error that is also the end is
// a plain error reply); each response is an event.
void OnStreamResponse(Generation& g, std::optional<Result<InferResponse>> response, bool final) {
  std::lock_guard<std::mutex> lock(g.mu);
  if (!g.stream) {
    if (final && response && !response->ok()) {
      auto done = std::move(g.done);
      g.done = nullptr;
      return done(ErrorReply(response->status()));
    }
    g.stream = std::make_shared<ReplyStream>();
    HttpReply reply;
    reply.content_type = "text/event-stream; charset=utf-8";
    reply.stream = g.stream;
    auto done = std::move(g.done);
    g.done = nullptr;
    done(std::move(reply));
  }
  if (response) {
    Result<json> body =
        response->ok() ? GenerateResponse(**response, g.id) : Result<json>(response->status());
    g.stream->Write(Event(body.ok() ? *body : json{{"error", body.status().message()}}));
  }
  if (final) g.stream->End();
}

}  // namespace

void HandleGenerate(InferenceService& service, const std::string& model, const std::string& version,
                    const std::string& body, bool stream, std::function<void(HttpReply)> done) {
  auto config = service.ModelConfig(model, version);
  if (!config.ok()) return done(ErrorReply(config.status()));
  auto request = GenerateRequest(body, *config);
  if (!request.ok()) return done(ErrorReply(request.status()));
  request->model = model;
  request->version = version;
  auto g = std::make_shared<Generation>();
  g->done = std::move(done);
  g->id = request->id;
  service.InferStream(
      std::move(request).value(),
      [g, model, stream](std::optional<Result<InferResponse>> response, bool final) {
        if (stream) return OnStreamResponse(*g, std::move(response), final);
        OnGenerateResponse(*g, model, std::move(response), final);
      });
}

}  // namespace modelgrid::server
