// The HTTP front end's defences at the network edge, over real sockets against a fake
// service: message framing (RFC 9112 §6), whole-request deadlines, connection limits and
// JSON limits. The abuse suite against the real server is tests/edge/edge_test.py.
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/http_framing.h"
#include "server/json_limits.h"
#include "support/fake_http_service.h"

namespace modelgrid::server {
namespace {

using namespace http_testing;  // NOLINT: the fixture, fake service and client of these tests

struct FramingCase {
  unsigned minor;
  std::vector<std::string_view> transfer_encoding;
  bool content_length;
  int want;  // 0: accepted
};

TEST(HttpFramingTest, TransferEncodingTable) {
  const FramingCase cases[] = {
      {1, {}, false, 0},
      {1, {}, true, 0},
      {0, {}, true, 0},
      {1, {"chunked"}, false, 0},
      {1, {"Chunked"}, false, 0},
      {1, {" chunked ", ""}, false, 0},
      {1, {"xchunked"}, true, 400},
      {1, {"xchunked"}, false, 400},
      {1, {"chunked"}, true, 400},
      {0, {"chunked"}, false, 400},
      {1, {"chunked, identity"}, false, 400},
      {1, {"chunked", "identity"}, false, 400},
      {1, {"chunked, chunked"}, false, 400},
      {1, {""}, false, 400},
      {1, {"gzip, chunked"}, false, 501},
      {1, {"gzip", "chunked"}, false, 501},
      {1, {"deflate;q=1, chunked"}, false, 501},
  };
  for (const FramingCase& c : cases) {
    std::string label = "HTTP/1." + std::to_string(c.minor) + " TE:";
    for (auto v : c.transfer_encoding) label += " [" + std::string(v) + "]";
    if (c.content_length) label += " + Content-Length";
    auto error = CheckRequestFraming(c.minor, c.transfer_encoding, c.content_length);
    EXPECT_EQ(error ? error->http_status : 0, c.want) << label;
  }
  auto gzip = CheckRequestFraming(1, {"gzip, chunked"}, false);
  ASSERT_TRUE(gzip);
  EXPECT_NE(gzip->message.find("gzip"), std::string::npos) << gzip->message;
}

TEST(JsonLimitsTest, DepthAndValueCounts) {
  EXPECT_TRUE(CheckJsonLimits("{}").ok());
  EXPECT_TRUE(CheckJsonLimits(std::string(32, '[') + std::string(32, ']')).ok());
  const Status deep = CheckJsonLimits(std::string(33, '['));
  EXPECT_EQ(deep.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(deep.message().find("deeper than 32"), std::string::npos) << deep.message();
  // Brackets and commas inside strings are text, escaped quotes do not end a string.
  EXPECT_TRUE(
      CheckJsonLimits("[\"" + std::string(100, '[') + "\\\"" + std::string(100, ',') + "\"]", 2, 4)
          .ok());
  EXPECT_TRUE(CheckJsonLimits("[1,2,3]", 4, 4).ok());
  const Status many = CheckJsonLimits("[1,2,3,4]", 4, 4);
  EXPECT_EQ(many.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(many.message().find("binary tensor data extension"), std::string::npos);
  // A 16 MiB nesting bomb is refused at the limit, without reading the rest.
  EXPECT_FALSE(CheckJsonLimits(std::string(size_t{16} << 20, '[')).ok());
}

TEST(JsonLimitsTest, BriefJsonNeverRepeatsADocument) {
  EXPECT_EQ(BriefJson(json::parse(R"({"a": [1, 2]})")), "an object");
  EXPECT_EQ(BriefJson(json::array({1, 2})), "an array");
  EXPECT_EQ(BriefJson(json("yes")), "\"yes\"");
  EXPECT_EQ(BriefJson(json(std::string(1000, 'x'))).size(), 64u + 3u);
}

// Sends raw bytes on a fresh connection and reads until the server closes it.
std::string Exchange(uint16_t port, const std::string& bytes) {
  Client c(port);
  c.WriteRaw(bytes);
  return c.ReadToEnd();
}

int CountResponses(const std::string& raw) {
  int n = 0;
  for (size_t at = raw.find("HTTP/1."); at != std::string::npos; at = raw.find("HTTP/1.", at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(ServerE2ETest, TransferEncodingIsValidated) {
  const std::string next = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
  // xchunked with a Content-Length: the lengths disagree about the body.
  std::string raw = Exchange(port(),
                             "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: xchunked\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw;
  // A coding other than chunked: 501, naming it.
  raw = Exchange(port(),
                 "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 501", 0), 0u) << raw;
  EXPECT_NE(raw.find("gzip"), std::string::npos) << raw;
  // chunked not last: one 400, and the chunk bytes are never read as a second request.
  raw = Exchange(port(),
                 "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked, identity\r\n\r\n" +
                     std::to_string(next.size()) + "\r\n" + next + "\r\n0\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw;
  EXPECT_EQ(CountResponses(raw), 1) << raw;
  // HTTP/1.0 has no transfer codings.
  raw = Exchange(port(),
                 "POST /v2/models/add_one/infer HTTP/1.0\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  EXPECT_NE(raw.find(" 400 "), std::string::npos) << raw;
  // A valid chunked request is served.
  const std::string body = kAddOneRequest;
  Client c(port());
  std::ostringstream hex;
  hex << std::hex << body.size();
  c.WriteRaw(
      "POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
      hex.str() + "\r\n" + body + "\r\n0\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200) << res.body();
}

TEST_F(ServerE2ETest, ATricklingRequestGets408AtItsDeadline) {
  ServerOptions options;
  options.idle_timeout_ms = 1000;
  options.request_timeout_ms = 300;
  StartServer(options);
  Client c(port());
  const std::string body = kAddOneRequest;
  c.WriteRaw("POST /v2/models/add_one/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n");
  // One byte at a time, each well within the idle timeout: only the whole-request
  // deadline can end this. The body is long enough to outlast it many times over.
  std::thread trickle([&] {
    try {
      for (char ch : body) {
        c.WriteRaw(std::string(1, ch));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } catch (const boost::system::system_error&) {
      // The server closed the connection: what this test waits for.
    }
  });
  const std::string raw = c.ReadToEnd();
  trickle.join();
  EXPECT_EQ(raw.rfind("HTTP/1.1 408", 0), 0u) << raw;
  EXPECT_NE(raw.find("did not arrive in time"), std::string::npos) << raw;
}

TEST_F(ServerE2ETest, AnIdleKeepAliveConnectionClosesWithout408) {
  ServerOptions options;
  options.idle_timeout_ms = 100;
  options.request_timeout_ms = 100;
  StartServer(options);
  Client c(port());
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
  EXPECT_EQ(c.ReadToEnd(), "");
}

// Opens a connection and makes one request on it, so that the server has admitted it.
std::unique_ptr<Client> Admitted(uint16_t port) {
  auto c = std::make_unique<Client>(port);
  EXPECT_EQ(c->Get("/v2/health/live")["live"], true);
  return c;
}

TEST_F(ServerE2ETest, ConnectionsOverTheLimitGet503) {
  ServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  auto a = Admitted(port());
  auto b = Admitted(port());
  const std::string refused = Exchange(port(), "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("too many connections"), std::string::npos) << refused;
  // Room again once one closes (the server notices the close asynchronously).
  a.reset();
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    served =
        Exchange(port(), "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .rfind("HTTP/1.1 200", 0) == 0;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(served);
}

TEST_F(ServerE2ETest, ConnectionsPerClientOverTheLimitGet503) {
  ServerOptions options;
  options.max_connections_per_client = 1;
  StartServer(options);
  auto a = Admitted(port());
  const std::string refused = Exchange(port(), "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("127.0.0.1"), std::string::npos) << refused;
}

TEST_F(ServerE2ETest, JsonBeyondTheLimitsIs400) {
  Client c(port());
  const std::string deep = R"({"parameters": {"a": )" + std::string(100000, '[') +
                           std::string(100000, ']') + R"(}, "inputs": []})";
  auto res = c.Send(http::verb::post, "/v2/models/add_one/infer", deep);
  EXPECT_EQ(res.result_int(), 400) << res.body();
  EXPECT_NE(res.body().find("deeper than"), std::string::npos) << res.body();
  res = c.Send(http::verb::post, "/v2/modelgrid/replan", std::string(100000, '['));
  EXPECT_EQ(res.result_int(), 400) << res.body();
}

TEST_F(ServerE2ETest, LargeBodiesAreRoutedOffTheEventLoop) {
  // Over the 256 KiB hand-off threshold: parsed on the parse pool, answered the same.
  const int n = 100000;
  std::string data;
  for (int i = 0; i < n; ++i) data += (i ? ",1.5" : "1.5");
  const std::string body = R"({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [)" +
                           std::to_string(n) + R"(], "data": [)" + data + "]}]}";
  ASSERT_GT(body.size(), size_t{256} << 10);
  Client c(port());
  auto res = c.Send(http::verb::post, "/v2/models/add_one/infer", body);
  ASSERT_EQ(res.result_int(), 200) << res.body().substr(0, 200);
  const json out = json::parse(res.body());
  EXPECT_EQ(out["outputs"][0]["data"].size(), static_cast<size_t>(n));
  EXPECT_EQ(out["outputs"][0]["data"][n - 1], 2.5);
  // The connection stays usable.
  EXPECT_EQ(c.Get("/v2/health/live")["live"], true);
}

}  // namespace
}  // namespace modelgrid::server
