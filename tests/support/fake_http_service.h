// An HttpServer over a fake InferenceService, and a blocking client, for tests of the
// HTTP front end over real sockets (server_http_test.cc, server_http_edge_test.cc).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "server/http_server.h"

namespace modelgrid::server::http_testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

// Models: "add_one" (ready; FP32 inputs get +1, others are echoed; INPUTk -> OUTPUTk),
// "not_ready" (exists, never ready), "slow" (echo after a delay, on its own thread).
class FakeService : public InferenceService {
 public:
  ~FakeService() override {
    for (std::thread& t : threads_) t.join();
  }
  bool Live() override { return true; }
  bool Ready() override { return true; }
  Result<json> ServerMetadata() override {
    return json{{"name", "fake"}, {"version", "0"}, {"extensions", json::array()}};
  }
  Result<json> ModelMetadata(const std::string& model, const std::string& version) override {
    Status known = Check(model, version);
    if (!known.ok()) return known;
    return json{{"name", model},
                {"versions", {"1"}},
                {"platform", "fake"},
                {"inputs", {{{"name", "INPUT0"}, {"datatype", "FP32"}, {"shape", {-1}}}}},
                {"outputs", {{{"name", "OUTPUT0"}, {"datatype", "FP32"}, {"shape", {-1}}}}}};
  }
  Result<bool> ModelReady(const std::string& model, const std::string& version) override {
    Status known = Check(model, version);
    if (!known.ok()) return known;
    return model != "not_ready";
  }
  Result<json> ModelStats(const std::string& model, const std::string& version) override {
    json stats = json::array();
    for (const char* name : {"add_one", "not_ready", "slow"}) {
      if (!model.empty() && model != name) continue;
      stats.push_back({{"name", name}, {"version", "1"}, {"inference_count", infers_.load()}});
    }
    if (stats.empty() || (!version.empty() && version != "1")) return NotFound(model);
    return json{{"model_stats", stats}};
  }
  void Infer(InferRequest request, std::function<void(Result<InferResponse>)> done) override {
    Status known = Check(request.model, request.version);
    if (!known.ok()) return done(known);
    if (request.model == "not_ready") {
      return done(Status(StatusCode::kUnavailable, "model not_ready is loading"));
    }
    ++infers_;
    if (request.model == "slow") {
      std::lock_guard<std::mutex> lock(mu_);
      slow_started_ = true;
      started_cv_.notify_all();
      threads_.emplace_back([request = std::move(request), done = std::move(done)]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        done(Compute(request));
      });
      return;
    }
    done(Compute(request));
  }

  void WaitForSlowStart() {
    std::unique_lock<std::mutex> lock(mu_);
    started_cv_.wait(lock, [this] { return slow_started_; });
  }

 private:
  static Status Check(const std::string& model, const std::string& version) {
    if (model != "add_one" && model != "not_ready" && model != "slow") {
      return NotFound("unknown model \"" + model + "\"");
    }
    if (!version.empty() && version != "1") return NotFound("unknown version " + version);
    return Status::Ok();
  }

  static Result<InferResponse> Compute(const InferRequest& request) {
    InferResponse response;
    for (const Tensor& in : request.inputs) {
      Tensor out = in;
      if (in.name.rfind("INPUT", 0) == 0) out.name = "OUTPUT" + in.name.substr(5);
      if (in.datatype == "FP32") {
        for (size_t i = 0; i + 4 <= out.data.size(); i += 4) {
          float v;
          std::memcpy(&v, out.data.data() + i, 4);
          v += 1.0f;
          std::memcpy(out.data.data() + i, &v, 4);
        }
      }
      response.outputs.push_back(std::move(out));
    }
    return response;
  }

  std::atomic<int64_t> infers_{0};
  std::mutex mu_;
  std::condition_variable started_cv_;
  bool slow_started_ = false;
  std::vector<std::thread> threads_;
};

// A blocking HTTP/1.1 client over one connection.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  http::response<http::string_body> Send(http::verb method, const std::string& target,
                                         const std::string& body = "",
                                         std::optional<size_t> header_length = {},
                                         bool keep_alive = true) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "localhost");
    if (header_length) req.set("Inference-Header-Content-Length", std::to_string(*header_length));
    req.keep_alive(keep_alive);
    req.body() = body;
    if (method == http::verb::post || !body.empty()) req.prepare_payload();
    http::write(socket_, req);
    return Read();
  }

  http::response<http::string_body> Read() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(size_t{256} << 20);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

  json Get(const std::string& target, int expect_status = 200) {
    auto res = Send(http::verb::get, target);
    EXPECT_EQ(res.result_int(), expect_status) << target << ": " << res.body();
    return json::parse(res.body(), nullptr, false);
  }

  void WriteRaw(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }

  // Reads until the server closes; returns what arrived.
  std::string ReadToEnd() {
    std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    char chunk[4096];
    beast::error_code ec;
    for (;;) {
      size_t n = socket_.read_some(net::buffer(chunk), ec);
      if (ec) break;
      out.append(chunk, n);
    }
    return out;
  }

  void Close() {
    beast::error_code ec;
    socket_.close(ec);
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

inline std::string FloatBytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
  return out;
}

class ServerE2ETest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions{}); }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(5));
  }
  void StartServer(ServerOptions options) {
    options.port = 0;
    options.io_threads = 4;
    if (server_) server_->Stop(std::chrono::seconds(5));
    auto started = HttpServer::Start(options, service_);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started).value();
    ASSERT_NE(server_->port(), 0);
  }
  uint16_t port() const { return server_->port(); }

  FakeService service_;
  std::unique_ptr<HttpServer> server_;
};

inline const char* kAddOneRequest = R"({"id": "r1", "inputs": [
  {"name": "INPUT0", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2], [3, 4.5]]},
  {"name": "INPUT1", "datatype": "INT64", "shape": [3], "data": [-9007199254740993, 0, 7]}]})";

}  // namespace modelgrid::server::http_testing
