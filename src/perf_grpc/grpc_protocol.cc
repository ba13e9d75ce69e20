#include "perf_grpc/grpc_protocol.h"

#include <algorithm>

#include <grpcpp/grpcpp.h>

#include "grpc_service.grpc.pb.h"

namespace modelgrid::perf {

namespace {

using inference::GRPCInferenceService;

std::string Target(const PerfOptions& o) {
  const bool v6 = o.url.host.find(':') != std::string::npos;
  return (v6 ? "[" + o.url.host + "]" : o.url.host) + ":" + std::to_string(o.url.port);
}

// A channel of its own (not shared with other senders' channels), taking any response size.
std::shared_ptr<::grpc::Channel> NewChannel(const PerfOptions& o) {
  ::grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return ::grpc::CreateCustomChannel(Target(o), ::grpc::InsecureChannelCredentials(), args);
}

void Prepare(::grpc::ClientContext& ctx, const PerfOptions& o, bool deadline) {
  if (!o.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + o.api_key);
  if (deadline) ctx.set_deadline(std::chrono::system_clock::now() + o.timeout);
}

std::string ErrorText(const ::grpc::Status& st) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int code = static_cast<int>(st.error_code());
  const std::string name = code >= 0 && code <= 16 ? kNames[code] : std::to_string(code);
  return "gRPC " + name + ": " + st.error_message().substr(0, 200);
}

using Requests = std::vector<std::vector<inference::ModelInferRequest>>;  // [model][variant]

class UnaryConnection final : public PerfConnection {
 public:
  UnaryConnection(const PerfOptions& o, const Requests& requests)
      : options_(o), requests_(requests), stub_(GRPCInferenceService::NewStub(NewChannel(o))) {}
  std::string Infer(size_t model, size_t variant) override {
    ::grpc::ClientContext ctx;
    Prepare(ctx, options_, true);
    inference::ModelInferResponse response;
    const ::grpc::Status st = stub_->ModelInfer(&ctx, requests_[model][variant], &response);
    return st.ok() ? "" : ErrorText(st);
  }

 private:
  const PerfOptions& options_;
  const Requests& requests_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
};

// One stream, one request at a time on it; a broken stream is reopened for the next request.
class StreamConnection final : public PerfConnection {
 public:
  StreamConnection(const PerfOptions& o, const Requests& requests)
      : options_(o), requests_(requests), stub_(GRPCInferenceService::NewStub(NewChannel(o))) {}
  ~StreamConnection() override { Close(); }
  std::string Infer(size_t model, size_t variant) override {
    if (!stream_) {
      ctx_ = std::make_unique<::grpc::ClientContext>();
      Prepare(*ctx_, options_, false);
      // A stream lives for a level at most (a sender connects once per level): its deadline
      // keeps a server that stops answering from holding the sender past the level.
      const auto level = std::chrono::duration<double>(options_.warmup_s + options_.duration_s);
      ctx_->set_deadline(std::chrono::system_clock::now() + options_.timeout +
                         std::chrono::duration_cast<std::chrono::milliseconds>(level));
      stream_ = stub_->ModelStreamInfer(ctx_.get());
    }
    inference::ModelStreamInferResponse response;
    if (!stream_->Write(requests_[model][variant]) || !stream_->Read(&response)) {
      return "stream broken: " + Close();
    }
    return response.error_message().empty() ? "" : "stream: " + response.error_message();
  }

 private:
  // Ends the stream; what its status said.
  std::string Close() {
    if (!stream_) return "";
    stream_->WritesDone();
    const ::grpc::Status st = stream_->Finish();
    stream_.reset();
    ctx_.reset();
    return ErrorText(st);
  }

  const PerfOptions& options_;
  const Requests& requests_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
  std::unique_ptr<::grpc::ClientContext> ctx_;
  std::unique_ptr<
      ::grpc::ClientReaderWriter<inference::ModelInferRequest, inference::ModelStreamInferResponse>>
      stream_;
};

class GrpcProtocol final : public PerfProtocol {
 public:
  GrpcProtocol(const PerfOptions& o, bool streaming)
      : options_(o), streaming_(streaming), stub_(GRPCInferenceService::NewStub(NewChannel(o))) {}

  Result<std::vector<std::string>> ListReadyModels() override {
    ::grpc::ClientContext ctx;
    Prepare(ctx, options_, true);
    inference::RepositoryIndexRequest request;
    request.set_ready(true);
    inference::RepositoryIndexResponse index;
    const ::grpc::Status st = stub_->RepositoryIndex(&ctx, request, &index);
    if (!st.ok()) return Status(StatusCode::kUnavailable, "repository index: " + ErrorText(st));
    std::vector<std::string> names;
    for (const auto& m : index.models()) {
      if (m.state().empty() || m.state() == "READY") names.push_back(m.name());
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    if (names.empty()) return NotFound("the server at " + Target(options_) + " has no ready model");
    return names;
  }

  Result<nlohmann::json> ModelMetadata(const std::string& model) override {
    ::grpc::ClientContext ctx;
    Prepare(ctx, options_, true);
    inference::ModelMetadataRequest request;
    request.set_name(model);
    inference::ModelMetadataResponse m;
    const ::grpc::Status st = stub_->ModelMetadata(&ctx, request, &m);
    if (!st.ok()) {
      const StatusCode code = st.error_code() == ::grpc::StatusCode::NOT_FOUND
                                  ? StatusCode::kNotFound
                                  : StatusCode::kUnavailable;
      return Status(code, "metadata of model \"" + model + "\": " + ErrorText(st));
    }
    auto tensors = [](const auto& list) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& t : list) {
        out.push_back({{"name", t.name()},
                       {"datatype", t.datatype()},
                       {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())}});
      }
      return out;
    };
    return nlohmann::json{{"name", m.name()},
                          {"platform", m.platform()},
                          {"inputs", tensors(m.inputs())},
                          {"outputs", tensors(m.outputs())}};
  }

  Status AddRequest(size_t model, const std::string& name, const std::vector<TensorData>& inputs,
                    const std::vector<std::string>& outputs) override {
    if (model >= requests_.size()) requests_.resize(model + 1);
    inference::ModelInferRequest r;
    r.set_model_name(name);
    for (const TensorData& t : inputs) {
      auto* in = r.add_inputs();
      in->set_name(t.name);
      in->set_datatype(t.datatype);
      for (int64_t d : t.shape) in->add_shape(d);
      r.add_raw_input_contents(t.data);
    }
    for (const std::string& o : outputs) r.add_outputs()->set_name(o);
    requests_[model].push_back(std::move(r));
    return Status::Ok();
  }

  Result<std::unique_ptr<PerfConnection>> Connect() override {
    if (streaming_)
      return std::unique_ptr<PerfConnection>(new StreamConnection(options_, requests_));
    return std::unique_ptr<PerfConnection>(new UnaryConnection(options_, requests_));
  }

 private:
  const PerfOptions& options_;
  const bool streaming_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;  // for the calls before the load
  Requests requests_;
};

}  // namespace

std::unique_ptr<PerfProtocol> MakeGrpcProtocol(const PerfOptions& options, bool streaming) {
  return std::make_unique<GrpcProtocol>(options, streaming);
}

}  // namespace modelgrid::perf
