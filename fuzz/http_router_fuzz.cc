// Feeds arbitrary HTTP requests to the KServe v2 router: the path (percent-decoding,
// routes), the method, the Inference-Header-Content-Length header and the body (JSON and
// binary tensors, request parameters, control bodies of the repository and ModelGrid
// endpoints), through to an echo service and the response encoder. The service copies and
// prints what it is given, as the real one does with parameters and control bodies (deep
// JSON once overflowed the stack there). Every JSON reply must parse as JSON.
// Input layout: byte 0 picks the method, then the target up to the first '\n', then an
// optional header-length line starting with '#', then the body. Any crash or sanitizer
// report is a bug.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/router.h"

namespace {

using modelgrid::Result;
using modelgrid::server::InferenceService;
using modelgrid::server::InferRequest;
using modelgrid::server::InferResponse;
using nlohmann::json;

// Answers everything; Infer echoes its inputs as outputs so the encoder sees them.
class EchoService : public InferenceService {
 public:
  bool Live() override { return true; }
  bool Ready() override { return true; }
  Result<json> ServerMetadata() override { return json{{"name", "fuzz"}}; }
  Result<json> ModelMetadata(const std::string& model, const std::string&) override {
    return json{{"name", model}};
  }
  Result<bool> ModelReady(const std::string&, const std::string&) override { return true; }
  // What generate builds its inputs from: each dims kind, and a batch dimension for "b".
  Result<json> ModelConfig(const std::string& model, const std::string&) override {
    auto input = [](const char* name, const char* type, json dims) {
      return json{{"name", name}, {"data_type", type}, {"dims", std::move(dims)}};
    };
    return json{
        {"name", model},
        {"max_batch_size", model == "b" ? 4 : 0},
        {"input",
         json::array({input("text_input", "TYPE_STRING", {1}),
                      input("max_tokens", "TYPE_INT32", {1}), input("x", "TYPE_FP32", {-1, 2}),
                      input("y", "TYPE_FP16", {2, -1, -1}), input("flag", "TYPE_BOOL", {3})})}};
  }
  Result<json> ModelStats(const std::string&, const std::string&) override {
    return json{{"model_stats", json::array()}};
  }
  void Infer(InferRequest request, std::function<void(Result<InferResponse>)> done) override {
    InferResponse response;
    const json parameters = request.parameters;  // a copy, as a queued request keeps one
    response.id = parameters.dump().substr(0, 16);
    response.outputs = std::move(request.inputs);
    done(std::move(response));
  }
  Result<std::string> Metrics() override { return std::string("# fuzz\n"); }
  Result<json> ServerStatus() override { return json::object(); }
  Result<json> RepositoryIndex(bool ready_only) override {
    return json::array({{{"name", "m"}, {"ready", ready_only}}});
  }
  void LoadModel(const std::string& model, const json& request, JsonCallback done) override {
    Echo(model, request, done);
  }
  void UnloadModel(const std::string& model, const json& request, JsonCallback done) override {
    Echo(model, request, done);
  }
  void MoveModel(const std::string& model, const json& request, JsonCallback done) override {
    Echo(model, request, done);
  }
  void Replan(const json& request, JsonCallback done) override { Echo("", request, done); }

 private:
  static void Echo(const std::string& model, const json& request, const JsonCallback& done) {
    json copy = request;
    done(json{{"model", model}, {"request", copy}, {"text", copy.dump()}});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static EchoService service;
  static modelgrid::server::Router router(service, {});
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  modelgrid::server::HttpRequest request;
  request.method = kMethods[static_cast<uint8_t>(in[0]) % 4];
  in.remove_prefix(1);
  size_t eol = in.find('\n');
  request.target = std::string(in.substr(0, eol));
  in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
  if (!in.empty() && in[0] == '#') {
    eol = in.find('\n');
    request.inference_header_length =
        std::string(in.substr(1, eol == std::string_view::npos ? eol : eol - 1));
    in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
  }
  request.body = std::string(in);
  int replies = 0;
  std::shared_ptr<modelgrid::server::ReplyStream> stream;
  router.Handle(std::move(request), [&](modelgrid::server::HttpReply reply) {
    ++replies;
    if (reply.stream) {  // read below, once the echo service has written it
      stream = reply.stream;
      return;
    }
    // A JSON reply is JSON, the part before the binary outputs too (responses are written
    // partly by hand).
    if (reply.content_type == "application/json" || reply.inference_header_length) {
      const size_t n = reply.inference_header_length.value_or(reply.body.size());
      if (n > reply.body.size() ||
          json::parse(reply.body.substr(0, n), nullptr, false).is_discarded()) {
        __builtin_trap();
      }
    }
  });
  // A streamed reply (generate_stream) is Server-Sent Events of JSON, then its end.
  if (stream) {
    bool ended = false;
    stream->Attach([&](std::string piece, bool end) {
      if (ended) __builtin_trap();
      ended = end;
      if (end) return;
      if (piece.rfind("data: ", 0) != 0 || piece.size() < 8 ||
          piece.substr(piece.size() - 2) != "\n\n" ||
          json::parse(piece.substr(6, piece.size() - 8), nullptr, false).is_discarded()) {
        __builtin_trap();
      }
    });
    if (!ended) __builtin_trap();  // the echo service answers at once
  }
  if (replies != 1) __builtin_trap();  // exactly one reply, always
  return 0;
}
