// End-to-end tests of the HTTP front end over real sockets, against a fake service.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "support/fake_http_service.h"

namespace modelgrid::server {
namespace {

using namespace http_testing;  // NOLINT: the fixture, fake service and client of these tests

TEST_F(ServerE2ETest, HealthMetadataReadyAndStatsEndpoints) {
  Client c(port());
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
  EXPECT_EQ(c.Get("/v2/health/ready")["ready"], true);
  EXPECT_EQ(c.Get("/v2")["name"], "fake");
  EXPECT_EQ(c.Get("/v2/models/add_one")["name"], "add_one");
  EXPECT_EQ(c.Get("/v2/models/add_one/versions/1")["platform"], "fake");
  EXPECT_EQ(c.Get("/v2/models/add_one/ready")["ready"], true);
  EXPECT_EQ(c.Get("/v2/models/add_one/versions/1/ready")["ready"], true);
  EXPECT_EQ(c.Get("/v2/models/not_ready/ready", 503)["ready"], false);
  EXPECT_EQ(c.Get("/v2/models/add_one/stats")["model_stats"].size(), 1u);
  EXPECT_EQ(c.Get("/v2/models/add_one/versions/1/stats")["model_stats"].size(), 1u);
  EXPECT_EQ(c.Get("/v2/models/stats")["model_stats"].size(), 3u);
  EXPECT_TRUE(c.Get("/v2/models/nope", 404).contains("error"));
  EXPECT_TRUE(c.Get("/v2/models/add_one/versions/9", 404).contains("error"));
  EXPECT_TRUE(c.Get("/v2/models/nope/ready", 404).contains("error"));
  EXPECT_TRUE(c.Get("/v2/nothing/here", 404).contains("error"));
  EXPECT_TRUE(c.Get("/v2/models/add_one/explode", 404).contains("error"));
  EXPECT_TRUE(c.Get("/metrics-not-yet", 404).contains("error"));
  EXPECT_EQ(c.Get("/v2/models/add_one?x=1")["name"], "add_one");
  EXPECT_EQ(c.Get("/v2/models/add%5Fone")["name"], "add_one");
}

TEST_F(ServerE2ETest, JsonInferenceOnOneKeptAliveConnection) {
  Client c(port());
  for (int i = 0; i < 5; ++i) {
    auto res = c.Send(http::verb::post, "/v2/models/add_one/infer", kAddOneRequest);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(res[http::field::content_type], "application/json");
    json doc = json::parse(res.body());
    EXPECT_EQ(doc["model_name"], "add_one");
    EXPECT_EQ(doc["id"], "r1");
    ASSERT_EQ(doc["outputs"].size(), 2u);
    EXPECT_EQ(doc["outputs"][0]["name"], "OUTPUT0");
    EXPECT_EQ(doc["outputs"][0]["shape"], json({2, 2}));
    EXPECT_EQ(doc["outputs"][0]["data"], json({2.0, 3.0, 4.0, 5.5}));
    EXPECT_EQ(doc["outputs"][1]["datatype"], "INT64");
    EXPECT_EQ(doc["outputs"][1]["data"], json({-9007199254740993ll, 0, 7}));
  }
  auto versioned = c.Send(http::verb::post, "/v2/models/add_one/versions/1/infer", kAddOneRequest);
  EXPECT_EQ(versioned.result_int(), 200);
  EXPECT_EQ(json::parse(versioned.body())["model_version"], "1");
}

TEST_F(ServerE2ETest, BinaryRequestAndBinaryResponse) {
  Client c(port());
  const std::string header = json::parse(R"({
    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [3],
                "parameters": {"binary_data_size": 12}}],
    "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": true}}]})")
                                 .dump();
  auto res = c.Send(http::verb::post, "/v2/models/add_one/infer",
                    header + FloatBytes({1.f, 2.f, 3.f}), header.size());
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res[http::field::content_type], "application/octet-stream");
  const size_t json_size = std::stoul(std::string(res["Inference-Header-Content-Length"]));
  json doc = json::parse(res.body().substr(0, json_size));
  EXPECT_EQ(doc["outputs"][0]["parameters"]["binary_data_size"], 12);
  EXPECT_EQ(res.body().substr(json_size), FloatBytes({2.f, 3.f, 4.f}));

  // Global binary_data_output with a JSON request.
  json req = json::parse(kAddOneRequest);
  req["parameters"] = {{"binary_data_output", true}};
  auto global = c.Send(http::verb::post, "/v2/models/add_one/infer", req.dump());
  ASSERT_EQ(global.result_int(), 200) << global.body();
  const size_t n = std::stoul(std::string(global["Inference-Header-Content-Length"]));
  EXPECT_EQ(global.body().size(), n + 16 + 24);
}

TEST_F(ServerE2ETest, ClientErrors) {
  Client c(port());
  auto post = [&](const std::string& target, const std::string& body,
                  std::optional<size_t> header_length = {}) {
    return c.Send(http::verb::post, target, body, header_length);
  };
  EXPECT_EQ(post("/v2/models/add_one/infer", "{not json").result_int(), 400);
  EXPECT_EQ(post("/v2/models/add_one/infer",
                 R"({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [3],
                     "data": [1, 2]}]})")
                .result_int(),
            400);
  EXPECT_EQ(post("/v2/models/add_one/infer",
                 R"({"inputs": [{"name": "INPUT0", "datatype": "INT8", "shape": [1],
                     "data": [300]}]})")
                .result_int(),
            400);
  EXPECT_EQ(post("/v2/models/add_one/infer", R"({"inputs": []})", 1000).result_int(), 400);
  EXPECT_EQ(post("/v2/models/add_one/infer", R"({"inputs": []})", std::nullopt).result_int(), 200);
  auto no_inputs = c.Send(http::verb::post, "/v2/models/add_one/infer", "{}", std::nullopt);
  EXPECT_EQ(no_inputs.result_int(), 400);
  EXPECT_EQ(post("/v2/models/nope/infer", kAddOneRequest).result_int(), 404);
  EXPECT_EQ(post("/v2/models/add_one/versions/3/infer", kAddOneRequest).result_int(), 404);
  auto unavailable = post("/v2/models/not_ready/infer", kAddOneRequest);
  EXPECT_EQ(unavailable.result_int(), 503);
  EXPECT_TRUE(json::parse(unavailable.body()).contains("error"));
  auto wrong_method = c.Send(http::verb::get, "/v2/models/add_one/infer");
  EXPECT_EQ(wrong_method.result_int(), 405);
  EXPECT_EQ(wrong_method[http::field::allow], "POST");
  EXPECT_EQ(post("/v2/health/live", "").result_int(), 405);
  EXPECT_EQ(c.Send(http::verb::delete_, "/v2/models/add_one").result_int(), 405);
  // The connection survived every error above.
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
}

TEST_F(ServerE2ETest, BodyOverLimitIs413BeforeTheBodyArrives) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client c(port());
  // Announce a large body but send none of it: the reply must come anyway.
  c.WriteRaw(
      "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_TRUE(json::parse(res.body()).contains("error"));
  EXPECT_FALSE(res.keep_alive());

  Client small(port());
  EXPECT_EQ(small.Send(http::verb::post, "/v2/models/add_one/infer", kAddOneRequest).result_int(),
            200);
}

TEST_F(ServerE2ETest, OversizedHeadersAre431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  StartServer(options);
  Client c(port());
  c.WriteRaw("GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 431);
}

TEST_F(ServerE2ETest, GarbageAndTruncatedInputDoNotCrash) {
  {
    Client c(port());
    c.WriteRaw(std::string("\x00\x01\x02garbage\r\n\r\n\xff\xfe", 16));
    std::string reply = c.ReadToEnd();
    EXPECT_NE(reply.find("400"), std::string::npos) << reply;
  }
  {
    Client c(port());
    c.WriteRaw(
        "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
        "{\"inputs\": [");
    c.Close();  // truncated body
  }
  {
    Client c(port());
    c.WriteRaw(
        "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
    c.ReadToEnd();
  }
  {
    Client c(port());
    c.WriteRaw("GET /v2/health/li");  // partial request line, then gone
  }
  for (int i = 0; i < 20; ++i) {  // random bytes
    Client c(port());
    std::string noise;
    for (int j = 0; j < 200; ++j) noise.push_back(static_cast<char>((i * 131 + j * 17) & 0xff));
    c.WriteRaw(noise);
    c.Close();
  }
  Client c(port());
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
}

TEST_F(ServerE2ETest, ExpectContinueIsAnswered) {
  Client c(port());
  const std::string body = kAddOneRequest;
  c.WriteRaw(
      "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  auto interim = c.Read();
  EXPECT_EQ(interim.result_int(), 100);
  c.WriteRaw(body);
  EXPECT_EQ(c.Read().result_int(), 200);
}

TEST_F(ServerE2ETest, ManyConcurrentClients) {
  constexpr int kClients = 64;
  constexpr int kRequests = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      Client c(port());
      for (int r = 0; r < kRequests; ++r) {
        json req = {{"id", std::to_string(i * 1000 + r)},
                    {"inputs",
                     {{{"name", "INPUT0"},
                       {"datatype", "FP32"},
                       {"shape", {1}},
                       {"data", {static_cast<float>(r)}}}}}};
        auto res = c.Send(http::verb::post, "/v2/models/add_one/infer", req.dump());
        json doc = json::parse(res.body(), nullptr, false);
        if (res.result_int() == 200 && doc["id"] == req["id"] &&
            doc["outputs"][0]["data"][0] == r + 1.0) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
}

TEST_F(ServerE2ETest, StopCompletesARequestInFlight) {
  std::optional<http::response<http::string_body>> slow_reply;
  std::thread client([&] {
    Client c(port());
    slow_reply = c.Send(http::verb::post, "/v2/models/slow/infer", kAddOneRequest);
  });
  Client idle(port());  // an idle keep-alive connection must not hold up Stop
  EXPECT_EQ(idle.Get("/v2/health/live")["live"], true);
  service_.WaitForSlowStart();
  // The idle client's reply may reach it before the server's write completes and uncounts
  // it: wait (bounded) for that, then only the slow request is in flight.
  for (int i = 0; i < 2000 && server_->in_flight() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server_->in_flight(), 1);
  server_->Stop(std::chrono::seconds(10));
  client.join();
  ASSERT_TRUE(slow_reply.has_value());
  EXPECT_EQ(slow_reply->result_int(), 200);
  EXPECT_FALSE(slow_reply->keep_alive());
  EXPECT_EQ(json::parse(slow_reply->body())["outputs"][0]["data"][0], 2.0);
  // The listener is gone.
  EXPECT_THROW(Client late(port()), boost::system::system_error);
}

TEST_F(ServerE2ETest, StopFinishesARequestWhoseBodyIsStillArriving) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  const std::string body = kAddOneRequest;
  const std::string head = "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  const size_t half = body.size() / 2;
  net::write(socket, net::buffer(head + body.substr(0, half)));
  // Let the server accept the connection and start reading (a connection still in the
  // kernel's backlog at Stop is refused, as by any server); only ordering, no timing claim.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Stop while the body is half there: the request must still be read and answered.
  std::thread stopper([&] { server_->Stop(std::chrono::seconds(10)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server_->in_flight() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server_->in_flight(), 1) << "Stop counts the half-received request as in flight";
  net::write(socket, net::buffer(body.substr(half)));
  // Bounded: a server that forgot the request would otherwise leave this read hanging.
  timeval timeout{20, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  beast::flat_buffer buffer;
  http::response<http::string_body> reply;
  beast::error_code ec;
  http::read(socket, buffer, reply, ec);
  stopper.join();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(reply.result_int(), 200) << reply.body();
  EXPECT_FALSE(reply.keep_alive());
}

TEST_F(ServerE2ETest, StopDeadlineAbandonsSlowRequestsSafely) {
  std::atomic<bool> got_reply{false};
  std::thread client([&] {
    try {
      Client c(port());
      auto res = c.Send(http::verb::post, "/v2/models/slow/infer", kAddOneRequest);
      got_reply = res.result_int() == 200;
    } catch (const boost::system::system_error&) {
      // The connection closed without a reply: expected.
    }
  });
  service_.WaitForSlowStart();
  server_->Stop(std::chrono::milliseconds(1));
  server_.reset();  // the service answers after the server is gone: dropped safely
  client.join();
  EXPECT_FALSE(got_reply.load());
}

TEST_F(ServerE2ETest, IdleConnectionsTimeOut) {
  ServerOptions options;
  options.idle_timeout_ms = 100;
  StartServer(options);
  Client c(port());
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
  EXPECT_EQ(c.ReadToEnd(), "");  // the server closes the idle connection
}

TEST(HttpServerTest, BadOptionsAndBusyPortFail) {
  FakeService service;
  ServerOptions options;
  options.address = "not an address";
  EXPECT_EQ(HttpServer::Start(options, service).status().code(), StatusCode::kInvalidArgument);
  options.address = "127.0.0.1";
  options.port = 0;
  auto first = HttpServer::Start(options, service);
  ASSERT_TRUE(first.ok());
  options.port = (*first)->port();
  auto second = HttpServer::Start(options, service);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(HttpStatusFor(second.status().code()), 503);
}

TEST(HttpServerTest, DestroyingWithoutStopIsSafe) {
  FakeService service;
  ServerOptions options;
  options.port = 0;
  auto server = HttpServer::Start(options, service);
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
  server->reset();
}

}  // namespace
}  // namespace modelgrid::server
