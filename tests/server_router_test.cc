// Routing and status mapping of the KServe v2 front end, without sockets.
#include "server/router.h"

#include <gtest/gtest.h>

namespace modelgrid::server {
namespace {

using nlohmann::json;

// One model, "m", version "1"; inference echoes the inputs back.
class StubService : public InferenceService {
 public:
  bool Live() override { return true; }
  bool Ready() override { return false; }
  Result<json> ServerMetadata() override { return json{{"name", "stub"}}; }
  Result<json> ModelMetadata(const std::string& model, const std::string& version) override {
    MG_RETURN_IF_ERROR(Check(model, version));
    return json{{"name", model}};
  }
  Result<bool> ModelReady(const std::string& model, const std::string& version) override {
    MG_RETURN_IF_ERROR(Check(model, version));
    return true;
  }
  Result<json> ModelStats(const std::string& model, const std::string&) override {
    return json{{"model_stats", json::array()}, {"asked", model}};
  }
  void Infer(InferRequest request, std::function<void(Result<InferResponse>)> done) override {
    if (request.model == "throws") throw std::runtime_error("boom");
    Status known = Check(request.model, request.version);
    if (!known.ok()) return done(known);
    done(InferResponse{"", "", "", request.inputs});
  }

 private:
  static Status Check(const std::string& model, const std::string& version) {
    if (model != "m" && model != "throws") return NotFound("no model " + model);
    if (!version.empty() && version != "1") return NotFound("no version " + version);
    return Status::Ok();
  }
};

class ServerRouterTest : public ::testing::Test {
 protected:
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 std::optional<std::string> header_length = std::nullopt) {
    HttpReply out;
    int calls = 0;
    router_.Handle({method, target, header_length, body, std::nullopt}, [&](HttpReply r) {
      out = std::move(r);
      ++calls;
    });
    EXPECT_EQ(calls, 1) << target;
    return out;
  }

  StubService service_;
  Router router_{service_};
};

TEST_F(ServerRouterTest, MatchesEveryRoute) {
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 503);  // the service is not ready
  EXPECT_EQ(Call("GET", "/v2").status, 200);
  EXPECT_EQ(Call("GET", "/v2/").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/m").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/m/versions/1").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/m/versions/2").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/m/ready").status, 200);
  EXPECT_EQ(json::parse(Call("GET", "/v2/models/stats").body)["asked"], "");
  EXPECT_EQ(json::parse(Call("GET", "/v2/models/m/stats").body)["asked"], "m");
  EXPECT_EQ(json::parse(Call("GET", "/v2/models/a%20b/stats").body)["asked"], "a b");
}

TEST_F(ServerRouterTest, UnknownRoutesAre404) {
  for (const char* target :
       {"/", "//v2", "v2", "/v3", "/v2/health", "/v2/health/dead", "/v2/models", "/v2/models/%zz",
        "/v2/models/m%2", "/v2/models/m/versions", "/v2/models/m/versions/1/infer/x",
        "/v2/models/m//ready"}) {
    HttpReply reply = Call("GET", target);
    EXPECT_EQ(reply.status, 404) << target;
    EXPECT_TRUE(json::parse(reply.body).contains("error")) << target;
  }
}

TEST_F(ServerRouterTest, WrongMethodsAre405WithAllow) {
  HttpReply put = Call("PUT", "/v2");
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.allow, "GET");
  HttpReply get_infer = Call("GET", "/v2/models/m/infer");
  EXPECT_EQ(get_infer.status, 405);
  EXPECT_EQ(get_infer.allow, "POST");
}

TEST_F(ServerRouterTest, InferErrorsMapToStatuses) {
  const std::string ok = R"({"inputs": [{"name": "x", "datatype": "INT32", "shape": [1],
                             "data": [3]}]})";
  HttpReply reply = Call("POST", "/v2/models/m/infer", ok);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(json::parse(reply.body)["outputs"][0]["data"], json({3}));
  EXPECT_EQ(Call("POST", "/v2/models/m/infer", "").status, 400);
  EXPECT_EQ(Call("POST", "/v2/models/m/infer", ok, "12x").status, 400);
  EXPECT_EQ(Call("POST", "/v2/models/m/infer", ok, "").status, 400);
  EXPECT_EQ(Call("POST", "/v2/models/m/infer", ok, std::to_string(ok.size())).status, 200);
  EXPECT_EQ(Call("POST", "/v2/models/other/infer", ok).status, 404);
  // A service that throws answers 500 instead of taking the server down.
  EXPECT_EQ(Call("POST", "/v2/models/throws/infer", ok).status, 500);
}

}  // namespace
}  // namespace modelgrid::server
