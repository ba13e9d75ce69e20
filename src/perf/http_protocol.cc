// PerfProtocol over KServe v2 HTTP: one keep-alive connection per sender, bodies encoded
// once before the load.
#include <cctype>

#include "client/http_client.h"
#include "perf/load_generator.h"
#include "perf/protocol.h"
#include "perf/request_encoder.h"
#include "perf/server_queries.h"

namespace modelgrid::perf {

namespace {

constexpr size_t kErrorBodyChars = 200;

struct HttpModel {
  std::string path;  // .../v2/models/{m}/infer
  std::vector<EncodedRequest> requests;
};

client::HttpClient::Headers AuthHeaders(const PerfOptions& o) {
  if (o.api_key.empty()) return {};
  return {{"Authorization", "Bearer " + o.api_key}};
}

std::string ErrorText(const client::HttpResponse& reply) {
  if (reply.status == 0) return "no reply: " + reply.error;
  std::string body = reply.body.substr(0, kErrorBodyChars);
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
  return "HTTP " + std::to_string(reply.status) + ": " + body;
}

class HttpConnection final : public PerfConnection {
 public:
  HttpConnection(const PerfOptions& o, const std::vector<HttpModel>& models)
      : http_(o.url.host, o.url.port, o.timeout), models_(models) {
    http_.set_default_headers(AuthHeaders(o));
  }
  std::string Infer(size_t model, size_t variant) override {
    const HttpModel& m = models_[model];
    const EncodedRequest& r = m.requests[variant];
    http_.Request(kPost, m.path, r.body, r.headers, reply_);
    return reply_.status == 200 ? "" : ErrorText(reply_);
  }

 private:
  inline static const std::string kPost = "POST";
  client::HttpClient http_;
  const std::vector<HttpModel>& models_;
  client::HttpResponse reply_;  // reused: its buffers keep their capacity
};

class HttpProtocol final : public PerfProtocol {
 public:
  explicit HttpProtocol(const PerfOptions& o)
      : options_(o), http_(o.url.host, o.url.port, o.timeout) {
    http_.set_default_headers(AuthHeaders(o));
  }
  Result<std::vector<std::string>> ListReadyModels() override {
    return perf::ListReadyModels(http_, options_.url);
  }
  Result<nlohmann::json> ModelMetadata(const std::string& model) override {
    return FetchModelMetadata(http_, options_.url, model);
  }
  Status AddRequest(size_t model, const std::string& name, const std::vector<TensorData>& inputs,
                    const std::vector<std::string>& outputs) override {
    if (model >= models_.size()) {
      models_.resize(model + 1);
      models_[model].path = options_.url.Path("/v2/models/" + name + "/infer");
    }
    MG_ASSIGN_OR_RETURN(EncodedRequest r, EncodeInferRequest(inputs, outputs, options_.binary));
    models_[model].requests.push_back(std::move(r));
    return Status::Ok();
  }
  Result<std::unique_ptr<PerfConnection>> Connect() override {
    return std::unique_ptr<PerfConnection>(new HttpConnection(options_, models_));
  }

 private:
  const PerfOptions& options_;
  client::HttpClient http_;  // for the calls before the load
  std::vector<HttpModel> models_;
};

}  // namespace

std::unique_ptr<PerfProtocol> MakeHttpProtocol(const PerfOptions& options) {
  return std::make_unique<HttpProtocol>(options);
}

}  // namespace modelgrid::perf
