// The BLS wire (serve/bls_wire.h) and the server's end of it (serve/bls_server.h).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "serve/bls_server.h"
#include "serve/bls_wire.h"

namespace modelgrid {
namespace {

server::Tensor Fp32(const std::string& name, std::vector<float> values) {
  server::Tensor t{name, "FP32", {1, static_cast<int64_t>(values.size())}, ""};
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

std::string Bytes(std::initializer_list<std::string> items) {
  std::string out;
  for (const auto& s : items) {
    const auto n = static_cast<uint32_t>(s.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
    out += s;
  }
  return out;
}

// Splits a whole frame into its header and payload.
void Split(const std::string& frame, std::string* header, std::string* payload) {
  uint32_t h = 0;
  uint64_t p = 0;
  for (int i = 0; i < 4; ++i) h |= static_cast<uint32_t>(static_cast<uint8_t>(frame[i])) << (8 * i);
  for (int i = 0; i < 8; ++i)
    p |= static_cast<uint64_t>(static_cast<uint8_t>(frame[4 + i])) << (8 * i);
  ASSERT_EQ(frame.size(), 12 + h + p);
  *header = frame.substr(12, h);
  *payload = frame.substr(12 + h);
}

TEST(BlsWire, RequestsAndRepliesRoundTrip) {
  BlsRequest r{"add_one",
               3,
               {Fp32("X", {1.5f, -2}), {"T", "BYTES", {2}, Bytes({"ab", ""})}},
               "req-7",
               nlohmann::json{{"mode", "fast"}, {"k", 3}}};
  std::string header, payload;
  Split(EncodeBlsRequest(r), &header, &payload);
  auto back = DecodeBlsRequest(header, payload);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->model, "add_one");
  EXPECT_EQ(back->version, 3);
  ASSERT_EQ(back->inputs.size(), 2u);
  EXPECT_EQ(back->inputs[0].data, r.inputs[0].data);
  EXPECT_EQ(back->inputs[1].datatype, "BYTES");
  EXPECT_EQ(back->inputs[1].data, r.inputs[1].data);
  EXPECT_EQ(back->id, "req-7");
  EXPECT_EQ(back->parameters, r.parameters);

  Split(EncodeBlsReply({Status::Ok(), {Fp32("Y", {7})}}), &header, &payload);
  auto reply = DecodeBlsReply(header, payload);
  ASSERT_TRUE(reply.ok() && reply->status.ok());
  EXPECT_EQ(reply->outputs.at(0).name, "Y");

  Split(EncodeBlsReply({NotFound("no model 'z'"), {}}), &header, &payload);
  reply = DecodeBlsReply(header, payload);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->status.code(), StatusCode::kNotFound);
  EXPECT_EQ(reply->status.message(), "no model 'z'");
}

TEST(BlsWire, MalformedFramesAreInvalidArguments) {
  const std::string four = std::string(16, '\0');
  const struct {
    std::string header, payload;
  } bad[] = {
      {"not json", ""},
      {"[]", ""},
      {R"({"model":"m","version":1})", ""},
      {R"({"model":1,"version":1,"inputs":[]})", ""},
      {R"({"model":"m","version":1,"inputs":{}})", ""},
      {R"({"model":"m","version":1,"inputs":[{"name":"X","datatype":"FP32","shape":[4]}]})", four},
      {R"({"model":"m","version":1,"inputs":[{"name":"X","datatype":"FP32","shape":[4],"bytes":32}]})",
       four},
      {R"({"model":"m","version":1,"inputs":[{"name":"X","datatype":"FP32","shape":[3],"bytes":16}]})",
       four},
      {R"({"model":"m","version":1,"inputs":[{"name":"X","datatype":"FP32","shape":[-4],"bytes":16}]})",
       four},
      {R"({"model":"m","version":1,"inputs":[{"name":"X","datatype":"FP99","shape":[4],"bytes":16}]})",
       four},
      {R"({"model":"m","version":1,"inputs":[{"name":"X","datatype":"BYTES","shape":[1],"bytes":16}]})",
       four},
      {R"({"model":"m","version":1,"inputs":[]})", four},  // payload left over
      {R"({"model":"m","version":1,"inputs":[],"id":3})", ""},
      {R"({"model":"m","version":1,"inputs":[],"parameters":[]})", ""},
      {R"({"model":"m","version":1,"inputs":[],"parameters":{"sequence_id":1}})", ""},
      {R"({"model":"m","version":1,"inputs":[],"parameters":{"nested":{"a":1}}})", ""},
  };
  for (const auto& b : bad) {
    auto r = DecodeBlsRequest(b.header, b.payload);
    ASSERT_FALSE(r.ok()) << b.header;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  EXPECT_FALSE(DecodeBlsReply(R"({"error":"x"})", four).ok());
  EXPECT_FALSE(DecodeBlsReply(R"({})", "").ok());
  // An error whose code is not a string (found by bls_wire_fuzz: it threw).
  for (const char* code : {"[1]", "7", "{}", "null"}) {
    auto r = DecodeBlsReply(std::string(R"({"error":"x","code":)") + code + "}", "");
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  std::string many = R"({"model":"m","version":1,"inputs":[)";
  for (size_t i = 0; i <= kMaxBlsTensors; ++i) {
    many += std::string(i ? "," : "") + R"({"name":"X","datatype":"FP32","shape":[0],"bytes":0})";
  }
  EXPECT_FALSE(DecodeBlsRequest(many + "]}", "").ok());
}

class BlsSocket : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  int fds_[2] = {-1, -1};
};

TEST_F(BlsSocket, FramesOverTheLimitsAClosedPeerAndTheDeadlineAreErrors) {
  std::string header, payload;
  EXPECT_EQ(ReadBlsFrame(fds_[0], 50, &header, &payload).code(), StatusCode::kUnavailable);
  std::string huge(12, '\xff');  // lengths of 4 GiB and 16 EiB
  ASSERT_TRUE(WriteBlsFrame(fds_[1], huge).ok());
  EXPECT_EQ(ReadBlsFrame(fds_[0], 1000, &header, &payload).code(), StatusCode::kInvalidArgument);
  ::close(fds_[1]);
  fds_[1] = -1;
  EXPECT_EQ(ReadBlsFrame(fds_[0], 1000, &header, &payload).code(), StatusCode::kUnavailable);
}

TEST_F(BlsSocket, TheServerRunsEachCallAndSurvivesGarbage) {
  std::vector<std::string> seen;
  BlsServer server(
      [&seen](server::InferRequest r, std::function<void(Result<server::InferResponse>)> done) {
        seen.push_back(r.model + ":" + r.version + (r.id.empty() ? "" : "#" + r.id) +
                       (r.parameters.empty() ? "" : r.parameters.dump()));
        if (r.model != "double") return done(NotFound("unknown model '" + r.model + "'"));
        server::Tensor out = r.inputs.at(0);
        out.name = "Y";
        for (size_t i = 0; i < out.data.size(); i += 4) {
          float v;
          std::memcpy(&v, out.data.data() + i, 4);
          v *= 2;
          std::memcpy(out.data.data() + i, &v, 4);
        }
        done(server::InferResponse{"", "", "", {out}});
      });
  server.Serve(fds_[0], "w0");
  fds_[0] = -1;  // the server's now
  auto call = [&](const std::string& frame) {
    EXPECT_TRUE(WriteBlsFrame(fds_[1], frame).ok());
    std::string header, payload;
    EXPECT_TRUE(ReadBlsFrame(fds_[1], 10'000, &header, &payload).ok());
    return DecodeBlsReply(header, payload);
  };
  auto ok = call(EncodeBlsRequest({"double", 2, {Fp32("X", {1.5f, -3})}, "r1", {{"m", 1}}}));
  ASSERT_TRUE(ok.ok() && ok->status.ok()) << ok.status().ToString();
  float y[2];
  std::memcpy(y, ok->outputs.at(0).data.data(), sizeof y);
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(y[1], -6.0f);
  auto unknown = call(EncodeBlsRequest({"nope", -1, {}, "", nlohmann::json::object()}));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status.code(), StatusCode::kNotFound);
  // A frame whose header is not a request: an error reply, and the stream goes on.
  std::string garbage = std::string("\x03\0\0\0\0\0\0\0\0\0\0\0", 12) + "abc";
  auto refused = call(garbage);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused->status.message().find("w0"), std::string::npos);
  EXPECT_TRUE(call(EncodeBlsRequest({"double", -1, {Fp32("X", {1})}, "", nlohmann::json::object()}))
                  ->status.ok());
  EXPECT_EQ(seen, (std::vector<std::string>{R"(double:2#r1{"m":1})", "nope:", "double:"}));
  server.Stop();  // joins the thread
}

}  // namespace
}  // namespace modelgrid
