// The gRPC front end over real sockets with a fake InferenceService that holds every call
// until the test completes it: stream order when answers come out of order, errors in a
// stream, a drain with a request in flight, a client that leaves mid-request, and the key;
// for streams and for unary ModelInfer; and the health service's Check and Watch.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "grpc/grpc_server.h"
#include "grpc/stream_infer.h"
#include "grpc_service.grpc.pb.h"
#include "health.grpc.pb.h"
#include "model_runtime.grpc.pb.h"

namespace modelgrid::rpc {
namespace {

using nlohmann::json;
using server::InferRequest;
using server::InferResponse;

// Holds each Infer until Complete(i) answers it with its inputs echoed as outputs.
class HeldService : public server::InferenceService {
 public:
  bool Live() override { return true; }
  bool Ready() override { return ready; }
  Result<json> ServerMetadata() override {
    return json{{"name", "held"}, {"version", "0"}, {"extensions", json::array()}};
  }
  Result<json> ModelMetadata(const std::string& m, const std::string&) override {
    return NotFound("no model " + m);
  }
  Result<bool> ModelReady(const std::string& m, const std::string&) override {
    return NotFound("no model " + m);
  }
  Result<json> ModelStats(const std::string&, const std::string&) override {
    return json{{"model_stats", json::array()}};
  }
  void Infer(InferRequest request, std::function<void(Result<InferResponse>)> done) override {
    if (request.model == "unknown") return done(NotFound("unknown model 'unknown'"));
    std::lock_guard<std::mutex> lock(mu_);
    held_.push_back({std::move(request), std::move(done)});
    cv_.notify_all();
  }

  // Waits (up to a minute) until `n` calls have arrived.
  bool WaitHeld(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::minutes(1), [&] { return held_.size() >= n; });
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  std::atomic<bool> ready{true};

  void Complete(size_t i) {
    Call call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      call = std::move(held_.at(i));
    }
    InferResponse response;
    for (const auto& t : call.request.inputs) response.outputs.push_back(t);
    call.done(std::move(response));
  }

 private:
  struct Call {
    InferRequest request;
    std::function<void(Result<InferResponse>)> done;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Call> held_;
};

// ModelMesh's runtime SPI whose predictModelSize blocks until Release, as a long dry run.
class SlowRuntime : public server::ModelRuntime {
 public:
  void RuntimeStatus(std::function<void(Result<server::RuntimeInfo>)> done) override {
    done(server::RuntimeInfo{});
  }
  Result<uint64_t> PredictModelSize(const server::RuntimeModelSource&) override {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    return uint64_t{42};
  }
  void LoadRuntimeModel(const server::RuntimeModelSource&,
                        std::function<void(Result<uint64_t>)> done) override {
    done(NotFound("no loads here"));
  }
  void UnloadRuntimeModel(const std::string&, std::function<void(Status)> done) override {
    done(Status::Ok());
  }
  Result<uint64_t> RuntimeModelSize(const std::string& id) override {
    return NotFound("no model " + id);
  }

  // Waits (up to a minute) until a prediction is blocked.
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::minutes(1), [&] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

class GrpcServerTest : public ::testing::Test {
 protected:
  void Start(const std::string& key = "", server::ModelRuntime* runtime = nullptr) {
    GrpcServerOptions options;
    options.port = 0;
    options.api_key = key;
    options.model_runtime = runtime;
    auto started = GrpcServer::Start(options, service_);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started).value();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(5));
  }

  static inference::ModelInferRequest Request(const std::string& model, const std::string& id,
                                              float value) {
    inference::ModelInferRequest r;
    r.set_model_name(model);
    r.set_id(id);
    auto* in = r.add_inputs();
    in->set_name("X");
    in->set_datatype("FP32");
    in->add_shape(1);
    r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(&value), sizeof value));
    return r;
  }
  static float Value(const inference::ModelInferResponse& r) {
    float v = 0;
    if (r.raw_output_contents_size() == 1 && r.raw_output_contents(0).size() == sizeof v) {
      std::memcpy(&v, r.raw_output_contents(0).data(), sizeof v);
    }
    return v;
  }

  HeldService service_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcServerTest, StreamAnswersInRequestOrderWhateverOrderTheServiceAnswers) {
  Start();
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(stream->Write(Request("m", "id" + std::to_string(i), static_cast<float>(i))));
  }
  ASSERT_TRUE(service_.WaitHeld(3));
  service_.Complete(2);
  service_.Complete(1);
  service_.Complete(0);
  for (int i = 0; i < 3; ++i) {
    inference::ModelStreamInferResponse r;
    ASSERT_TRUE(stream->Read(&r));
    EXPECT_EQ(r.error_message(), "");
    EXPECT_EQ(r.infer_response().id(), "id" + std::to_string(i));
    EXPECT_EQ(Value(r.infer_response()), static_cast<float>(i));
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcServerTest, AStreamHoldsABoundedBacklogForAClientThatDoesNotRead) {
  Start();
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  const size_t sent = kMaxStreamBacklog + 44;
  for (size_t i = 0; i < sent; ++i) {
    ASSERT_TRUE(stream->Write(Request("m", std::to_string(i), static_cast<float>(i))));
  }
  ASSERT_TRUE(service_.WaitHeld(kMaxStreamBacklog));
  // Time for more reads, were they allowed (none may come whatever the wait).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(service_.held(), kMaxStreamBacklog) << "the stream read past its backlog";
  // Answered and written, the backlog makes room: every request is read and answered.
  for (size_t i = 0; i < sent; ++i) {
    ASSERT_TRUE(service_.WaitHeld(i + 1));
    service_.Complete(i);
    inference::ModelStreamInferResponse r;
    ASSERT_TRUE(stream->Read(&r));
    EXPECT_EQ(r.infer_response().id(), std::to_string(i));
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcServerTest, AFailedRequestIsAnErrorResponseAndTheStreamGoesOn) {
  Start();
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  ASSERT_TRUE(stream->Write(Request("unknown", "bad", 1)));
  ASSERT_TRUE(stream->Write(Request("m", "good", 2)));
  ASSERT_TRUE(service_.WaitHeld(1));
  service_.Complete(0);
  inference::ModelStreamInferResponse r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_NE(r.error_message().find("unknown model"), std::string::npos) << r.error_message();
  EXPECT_EQ(r.infer_response().id(), "bad");
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_EQ(r.error_message(), "");
  EXPECT_EQ(r.infer_response().id(), "good");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcServerTest, StopAnswersTheRequestInFlightThenEndsTheStreamUnavailable) {
  Start();
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  ASSERT_TRUE(stream->Write(Request("m", "held", 7)));
  ASSERT_TRUE(service_.WaitHeld(1));
  std::thread stop([this] { server_->Stop(std::chrono::seconds(30)); });
  service_.Complete(0);
  inference::ModelStreamInferResponse r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_EQ(r.infer_response().id(), "held");
  EXPECT_EQ(Value(r.infer_response()), 7.0f);
  EXPECT_FALSE(stream->Read(&r));
  const grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  stop.join();
}

TEST_F(GrpcServerTest, AClientThatLeavesMidRequestLeavesNothingBehind) {
  Start();
  {
    grpc::ClientContext ctx;
    auto stream = stub_->ModelStreamInfer(&ctx);
    ASSERT_TRUE(stream->Write(Request("m", "left", 1)));
    ASSERT_TRUE(service_.WaitHeld(1));
    ctx.TryCancel();
    (void)stream->Finish();
  }
  // The answer arrives after the client left: it is dropped, and the stream ends, so
  // that Stop (in TearDown) finds no call open.
  service_.Complete(0);
  server_->Stop(std::chrono::seconds(30));
  server_.reset();
}

TEST_F(GrpcServerTest, TheKeyIsNeededButNotForLiveness) {
  Start("secret");
  {
    grpc::ClientContext ctx;
    inference::ServerReadyResponse r;
    EXPECT_EQ(stub_->ServerReady(&ctx, {}, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer secret");
    inference::ServerReadyResponse r;
    EXPECT_TRUE(stub_->ServerReady(&ctx, {}, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse r;
    EXPECT_TRUE(stub_->ServerLive(&ctx, {}, &r).ok());
    EXPECT_TRUE(r.live());
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer wrong");
  auto stream = stub_->ModelStreamInfer(&ctx);
  inference::ModelStreamInferResponse r;
  EXPECT_FALSE(stream->Read(&r));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// Unary ModelInfer: 40 calls held at once, answered in reverse order, each get their own
// answer.
TEST_F(GrpcServerTest, ManyUnaryCallsAtOnceEachGetTheirOwnAnswer) {
  Start();
  constexpr int kCalls = 40;
  std::vector<std::thread> clients;
  std::vector<float> got(kCalls, -1);
  std::vector<grpc::StatusCode> codes(kCalls, grpc::StatusCode::UNKNOWN);
  for (int i = 0; i < kCalls; ++i) {
    clients.emplace_back([&, i] {
      grpc::ClientContext ctx;
      inference::ModelInferResponse r;
      codes[i] = stub_->ModelInfer(&ctx, Request("m", "", static_cast<float>(i)), &r).error_code();
      got[i] = Value(r);
    });
  }
  ASSERT_TRUE(service_.WaitHeld(kCalls));
  for (int i = kCalls - 1; i >= 0; --i) service_.Complete(static_cast<size_t>(i));
  for (auto& t : clients) t.join();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(codes[i], grpc::StatusCode::OK) << i;
    EXPECT_EQ(got[i], static_cast<float>(i)) << i;
  }
}

TEST_F(GrpcServerTest, StopAnswersAUnaryCallInFlight) {
  Start();
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  float got = -1;
  std::thread client([&] {
    grpc::ClientContext ctx;
    inference::ModelInferResponse r;
    code = stub_->ModelInfer(&ctx, Request("m", "", 5), &r).error_code();
    got = Value(r);
  });
  ASSERT_TRUE(service_.WaitHeld(1));
  std::thread stop([this] { server_->Stop(std::chrono::seconds(30)); });
  service_.Complete(0);
  client.join();
  stop.join();
  EXPECT_EQ(code, grpc::StatusCode::OK);
  EXPECT_EQ(got, 5.0f);
}

TEST_F(GrpcServerTest, AUnaryClientThatLeavesMidRequestLeavesNothingBehind) {
  Start();
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    inference::ModelInferResponse r;
    std::thread client([&] { (void)stub_->ModelInfer(&ctx, Request("m", "", 1), &r); });
    ASSERT_TRUE(service_.WaitHeld(1));
    client.join();
  }
  // The answer comes after the client left: it is dropped, and Stop finds no call open.
  service_.Complete(0);
  server_->Stop(std::chrono::seconds(30));
  server_.reset();
}

TEST_F(GrpcServerTest, UnaryInferNeedsTheKeyAndTakesModelMeshModelId) {
  Start("secret");
  // Deadlines: a call the fake held by mistake fails instead of hanging the test.
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    inference::ModelInferResponse r;
    const grpc::Status st = stub_->ModelInfer(&ctx, Request("m", "", 1), &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(service_.held(), 0u);
  // No model_name: ModelMesh's mm-model-id header names it (the fake refuses "unknown").
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  ctx.AddMetadata("authorization", "Bearer secret");
  ctx.AddMetadata("mm-model-id", "unknown");
  inference::ModelInferResponse r;
  const grpc::Status st = stub_->ModelInfer(&ctx, Request("", "", 1), &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  EXPECT_NE(st.error_message().find("unknown"), std::string::npos) << st.error_message();
}

// grpc.health.v1: Check answers for the server and the service, NOT_FOUND for others;
// Watch sends the status, follows readiness, and when the server stops says NOT_SERVING and
// ends with UNAVAILABLE.
TEST_F(GrpcServerTest, HealthChecksAndWatchesFollowReadinessUntilStop) {
  using grpc::health::v1::HealthCheckRequest;
  using grpc::health::v1::HealthCheckResponse;
  Start();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  auto check = [&](const std::string& service, HealthCheckResponse* r) {
    grpc::ClientContext ctx;
    HealthCheckRequest q;
    q.set_service(service);
    return health->Check(&ctx, q, r);
  };
  HealthCheckResponse r;
  ASSERT_TRUE(check("", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(check("inference.GRPCInferenceService", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  EXPECT_EQ(check("nope", &r).error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext watch_ctx;
  HealthCheckRequest server;
  auto watch = health->Watch(&watch_ctx, server);
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  service_.ready = false;
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(check("", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  service_.ready = true;
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);

  grpc::ClientContext unknown_ctx;
  HealthCheckRequest nope;
  nope.set_service("nope");
  auto unknown = health->Watch(&unknown_ctx, nope);
  ASSERT_TRUE(unknown->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVICE_UNKNOWN);

  server_->Stop(std::chrono::seconds(30));
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&r));
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(unknown->Read(&r));  // still unknown: nothing new to say
  EXPECT_EQ(unknown->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A Watch the client leaves ends; one left open holds nothing at Stop.
TEST_F(GrpcServerTest, AWatchTheClientLeavesEnds) {
  using grpc::health::v1::HealthCheckRequest;
  using grpc::health::v1::HealthCheckResponse;
  Start();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    auto watch = health->Watch(&ctx, HealthCheckRequest());
    HealthCheckResponse r;
    ASSERT_TRUE(watch->Read(&r));
    ctx.TryCancel();
    EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  grpc::ClientContext ctx;
  auto open = health->Watch(&ctx, HealthCheckRequest());
  HealthCheckResponse r;
  ASSERT_TRUE(open->Read(&r));  // the server has the call
  server_->Stop(std::chrono::seconds(30));
  server_.reset();
  while (open->Read(&r)) {
  }
  EXPECT_EQ(open->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Every call is served by one thread: a predictModelSize that waits for a long dry run is
// run off it, and holds no other call.
TEST_F(GrpcServerTest, ASlowModelSizePredictionHoldsNoOtherCall) {
  SlowRuntime runtime;
  Start("", &runtime);
  auto mesh = mmesh::ModelRuntime::NewStub(channel_);
  grpc::Status predicted;
  mmesh::PredictModelSizeResponse size;
  std::thread predict([&] {
    grpc::ClientContext ctx;
    predicted = mesh->predictModelSize(&ctx, mmesh::PredictModelSizeRequest(), &size);
  });
  ASSERT_TRUE(runtime.WaitEntered());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    inference::ServerLiveResponse r;
    EXPECT_TRUE(stub_->ServerLive(&ctx, {}, &r).ok()) << "a call waited behind the prediction";
    EXPECT_TRUE(r.live());
  }
  runtime.Release();
  predict.join();
  EXPECT_TRUE(predicted.ok()) << predicted.error_message();
  EXPECT_EQ(size.sizeinbytes(), 42u);
  server_->Stop(std::chrono::seconds(30));
  server_.reset();
}

}  // namespace
}  // namespace modelgrid::rpc
