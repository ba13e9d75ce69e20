// Triton's generate extension (server/generate.h): generate bodies into requests by the
// model's config, responses into generate's JSON, and both endpoints through the Router
// against a service whose model answers several times.
#include "server/generate.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/router.h"

namespace modelgrid::server {
namespace {

using nlohmann::json;

json Input(const std::string& name, const std::string& type, json dims) {
  return {{"name", name}, {"data_type", type}, {"dims", std::move(dims)}};
}

json Config(int max_batch_size = 0) {
  return {
      {"max_batch_size", max_batch_size},
      {"input",
       json::array({Input("text_input", "TYPE_STRING", {1}), Input("max_tokens", "TYPE_INT32", {1}),
                    Input("x", "TYPE_FP32", {-1, 2}), Input("y", "TYPE_INT64", {2, -1, -1})})}};
}

TEST(GenerateRequest, PropertiesBecomeInputsByTheConfigOrParameters) {
  auto r = GenerateRequest(
      R"({"id": "q", "text_input": "hi", "max_tokens": 3, "x": [[1, 2], [3, 4], [5, 6]],
          "temperature": 0.5, "parameters": {"stream": true}})",
      Config());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "q");
  ASSERT_EQ(r->inputs.size(), 3u);
  // nlohmann iterates object keys in order: max_tokens, text_input, x.
  EXPECT_EQ(r->inputs[0].name, "max_tokens");
  EXPECT_EQ(r->inputs[0].datatype, "INT32");
  EXPECT_EQ(r->inputs[0].shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(r->inputs[0].data, std::string("\x03\0\0\0", 4));
  EXPECT_EQ(r->inputs[1].datatype, "BYTES");
  EXPECT_EQ(r->inputs[1].data, std::string("\x02\0\0\0hi", 6));
  EXPECT_EQ(r->inputs[2].shape, (std::vector<int64_t>{3, 2}));  // the variable dim sized
  EXPECT_EQ(r->parameters, (json{{"temperature", 0.5}, {"stream", true}}));
}

TEST(GenerateRequest, ABatchingModelGetsABatchOfOne) {
  auto r = GenerateRequest(R"({"text_input": "hi"})", Config(8));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->inputs.at(0).shape, (std::vector<int64_t>{1, 1}));
}

TEST(GenerateRequest, WhatItCannotTakeIsRefusedNamingIt) {
  struct Case {
    const char* body;
    const char* names;
  };
  const Case cases[] = {
      {R"([1])", "JSON object"},
      {R"({"id": 7})", "id"},
      {R"({"parameters": [1]})", "parameters"},
      {R"({"parameters": {"sequence_id": 1}})", "sequence_id"},
      {R"({"priority": 1})", "priority"},
      {R"({"nested": {"a": 1}})", "nested"},
      {R"({"max_tokens": "three"})", "max_tokens"},
      {R"({"max_tokens": [1, 2]})", "max_tokens"},
      {R"({"x": [1, 2, 3]})", "multiple of 2"},
      {R"({"y": [1, 2]})", "several variable dims"},
  };
  for (const Case& c : cases) {
    auto r = GenerateRequest(c.body, Config());
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.status().message().find(c.names), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
}

TEST(GenerateResponse, OneElementIsAValueMoreAreAnArray) {
  InferResponse response;
  response.model = "m";
  response.version = "2";
  response.outputs.push_back({"text_output", "BYTES", {1}, std::string("\x02\0\0\0ok", 6)});
  response.outputs.push_back({"ids", "INT32", {2}, std::string("\x01\0\0\0\x02\0\0\0", 8)});
  auto j = GenerateResponse(response, "q");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(*j, (json{{"model_name", "m"},
                      {"model_version", "2"},
                      {"id", "q"},
                      {"text_output", "ok"},
                      {"ids", {1, 2}}}));
}

// Its model answers every request with `count` responses (max_tokens echoed, one each),
// then the end; with count 0, an error.
class CountingService : public InferenceService {
 public:
  explicit CountingService(int count) : count_(count) {}
  bool Live() override { return true; }
  bool Ready() override { return true; }
  Result<json> ServerMetadata() override { return json::object(); }
  Result<json> ModelMetadata(const std::string&, const std::string&) override {
    return json::object();
  }
  Result<json> ModelConfig(const std::string& model, const std::string&) override {
    if (model != "m") return NotFound("unknown model " + model);
    return Config();
  }
  Result<bool> ModelReady(const std::string&, const std::string&) override { return true; }
  Result<json> ModelStats(const std::string&, const std::string&) override {
    return json::object();
  }
  void Infer(InferRequest, std::function<void(Result<InferResponse>)> done) override {
    done(Internal("Infer is not what generate calls"));
  }
  void InferStream(InferRequest request, StreamCallback each) override {
    if (count_ == 0) return each(Result<InferResponse>(InvalidArgument("no such thing")), true);
    for (int i = 0; i < count_; ++i) {
      InferResponse r;
      r.model = "m";
      r.version = "1";
      r.outputs.push_back(request.inputs.at(0));
      each(std::move(r), i == count_ - 1);
    }
  }

 private:
  const int count_;
};

struct Answer {
  HttpReply reply;
  std::vector<std::string> pieces;
  bool ended = false;
};

Answer Post(InferenceService& service, const std::string& path) {
  Router router(service);
  HttpRequest request;
  request.method = "POST";
  request.target = path;
  request.body = R"({"max_tokens": 5})";
  Answer answer;
  int replies = 0;
  router.Handle(std::move(request), [&](HttpReply reply) {
    ++replies;
    answer.reply = std::move(reply);
  });
  EXPECT_EQ(replies, 1);
  if (answer.reply.stream) {
    answer.reply.stream->Attach([&](std::string piece, bool end) {
      if (end) answer.ended = true;
      if (!end) answer.pieces.push_back(std::move(piece));
    });
  }
  return answer;
}

TEST(GenerateEndpoints, StreamSendsEachResponseAsAnEvent) {
  CountingService three(3);
  Answer a = Post(three, "/v2/models/m/generate_stream");
  EXPECT_EQ(a.reply.status, 200);
  EXPECT_EQ(a.reply.content_type, "text/event-stream; charset=utf-8");
  ASSERT_TRUE(a.ended);
  ASSERT_EQ(a.pieces.size(), 3u);
  for (const auto& piece : a.pieces) {
    EXPECT_EQ(piece, R"(data: {"max_tokens":5,"model_name":"m","model_version":"1"})"
                     "\n\n");
  }
}

TEST(GenerateEndpoints, GenerateTakesExactlyOneResponse) {
  CountingService one(1), three(3), failing(0);
  Answer a = Post(one, "/v2/models/m/generate");
  EXPECT_EQ(a.reply.status, 200);
  EXPECT_EQ(json::parse(a.reply.body)["max_tokens"], 5);
  Answer b = Post(three, "/v2/models/m/generate");
  EXPECT_EQ(b.reply.status, 400);
  EXPECT_NE(b.reply.body.find("generate_stream"), std::string::npos) << b.reply.body;
  // A request that fails before any response is a plain error reply, on both endpoints.
  for (const char* path : {"/v2/models/m/generate", "/v2/models/m/generate_stream"}) {
    Answer c = Post(failing, path);
    EXPECT_EQ(c.reply.status, 400) << path;
    EXPECT_EQ(c.reply.stream, nullptr) << path;
    EXPECT_NE(c.reply.body.find("no such thing"), std::string::npos) << c.reply.body;
  }
  Answer d = Post(one, "/v2/models/nope/generate");
  EXPECT_EQ(d.reply.status, 404);
}

}  // namespace
}  // namespace modelgrid::server
