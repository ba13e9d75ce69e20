// client::ParseUrl and client::HttpClient against a real server::HttpServer.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "client/http_client.h"
#include "client/url.h"
#include "server/http_server.h"

namespace modelgrid {
namespace {

using client::HttpClient;
using client::ParseUrl;
using nlohmann::json;

TEST(HttpClientUrl, AcceptsTheDocumentedForms) {
  auto a = ParseUrl("http://127.0.0.1:8000");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8000);
  EXPECT_EQ(a->prefix, "");
  auto b = ParseUrl("localhost:9000");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "localhost");
  EXPECT_EQ(b->port, 9000);
  auto c = ParseUrl("http://models.example.com/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 80);
  EXPECT_EQ(c->prefix, "");
  auto d = ParseUrl("HTTP://[::1]:8001/serving/v1/");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->port, 8001);
  EXPECT_EQ(d->prefix, "/serving/v1");
  EXPECT_EQ(d->ToString(), "http://[::1]:8001/serving/v1");
  EXPECT_EQ(d->Path("/v2/models"), "/serving/v1/v2/models");
}

TEST(HttpClientUrl, RejectsHttpsAndGarbage) {
  auto https = ParseUrl("https://host:443");
  ASSERT_FALSE(https.ok());
  EXPECT_EQ(https.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(https.status().message().find("https is not supported"), std::string::npos);
  for (const char* bad : {"", "localhost", "http://", "http://:80", "ftp://host:1", "host:0",
                          "host:65536", "host:12a", "http://host:", "http://a b:80",
                          "http://host:80?x=1", "http://user@host:80", "[::1", "http://[::1]x"}) {
    auto r = ParseUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("bad URL"), std::string::npos) << bad;
    }
  }
}

// Model "m" has no inputs; Infer echoes the inputs back as outputs.
class EchoService : public server::InferenceService {
 public:
  bool Live() override { return true; }
  bool Ready() override { return true; }
  Result<json> ServerMetadata() override {
    return json{{"name", "echo"}, {"version", "1"}, {"extensions", json::array()}};
  }
  Result<json> ModelMetadata(const std::string& model, const std::string&) override {
    if (model != "m") return NotFound("unknown model " + model);
    return json{{"name", "m"}, {"inputs", json::array()}, {"outputs", json::array()}};
  }
  Result<bool> ModelReady(const std::string& model, const std::string&) override {
    return model == "m";
  }
  Result<json> ModelStats(const std::string&, const std::string&) override {
    return json{{"model_stats", json::array()}};
  }
  void Infer(server::InferRequest request,
             std::function<void(Result<server::InferResponse>)> done) override {
    server::InferResponse response;
    response.outputs = request.inputs;
    done(std::move(response));
  }
};

class HttpClientTest : public ::testing::Test {
 protected:
  void Start(const std::string& api_key) {
    server::ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.api_key = api_key;
    auto s = server::HttpServer::Start(options, service_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  EchoService service_;
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(HttpClientTest, GetAndPostOverOneKeptAliveConnection) {
  Start("");
  HttpClient http("localhost", server_->port(), std::chrono::milliseconds(5000));
  auto live = http.Get("/v2/health/live");
  EXPECT_EQ(live.status, 200) << live.error;
  auto meta = http.Get("/v2/models/m");
  ASSERT_EQ(meta.status, 200) << meta.error;
  EXPECT_EQ(json::parse(meta.body)["name"], "m");
  EXPECT_NE(meta.Header("CONTENT-TYPE").find("application/json"), std::string::npos);
  const std::string body =
      R"({"inputs":[{"name":"x","datatype":"INT32","shape":[2],"data":[1,2]}]})";
  auto infer = http.Post("/v2/models/m/infer", body, {{"Content-Type", "application/json"}});
  ASSERT_EQ(infer.status, 200) << infer.error << infer.body;
  EXPECT_EQ(json::parse(infer.body)["outputs"][0]["data"], json({1, 2}));
  auto missing = http.Get("/v2/models/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(http.connections_opened(), 1);
  EXPECT_TRUE(http.connected());
}

TEST_F(HttpClientTest, DefaultHeadersCarryTheApiKey) {
  Start("secret");
  HttpClient anonymous("127.0.0.1", server_->port(), std::chrono::milliseconds(5000));
  EXPECT_EQ(anonymous.Get("/v2/models/m").status, 401);
  HttpClient keyed("127.0.0.1", server_->port(), std::chrono::milliseconds(5000));
  keyed.set_default_headers({{"Authorization", "Bearer secret"}});
  EXPECT_EQ(keyed.Get("/v2/models/m").status, 200);
}

TEST_F(HttpClientTest, ReportsNoReplyWhenNothingListens) {
  Start("");
  const uint16_t port = server_->port();
  server_->Stop(std::chrono::milliseconds(0));
  server_.reset();
  HttpClient http("127.0.0.1", port, std::chrono::milliseconds(2000));
  auto r = http.Get("/v2/health/live");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("connect"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace modelgrid
