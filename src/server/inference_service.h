// InferenceService: the only thing the HTTP front end talks to.
//
// The front end (http_server, router) parses KServe v2 requests into these plain structs,
// calls the service, and encodes what it returns. It never sees workers, queues or
// backends: the serve/ component implements this interface on top of them, and tests
// implement it with a fake.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/event_loop.h"

namespace modelgrid::server {

// One tensor in KServe v2 terms.
struct Tensor {
  std::string name;
  // KServe datatype: BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16,
  // FP32, FP64, BF16 or BYTES.
  std::string datatype;
  std::vector<int64_t> shape;
  // Raw little-endian element bytes in row-major order. BOOL is one byte per element (0 or
  // 1). BYTES is, per element, a 4-byte little-endian length followed by that many bytes
  // (the layout of the KServe binary tensor extension).
  std::string data;
};

// Where a tensor's bytes are in a registered shared-memory region.
struct SharedMemoryRef {
  std::string region;      // the name it was registered under
  uint64_t byte_size = 0;  // bytes available from `offset`
  uint64_t offset = 0;
};

// Triton's request parameters that mean something to its core (sequence batching, the
// scheduler's priority and timeout). ModelGrid has none of these, so front ends refuse them
// by name. Any other request parameter, except binary_data_output, is a custom one for the
// model: the service passes it to models that take them (Python models'
// request.parameters()) and refuses it, by name, for the others.
inline constexpr std::string_view kReservedRequestParameters[] = {
    "sequence_id", "sequence_start", "sequence_end", "priority", "timeout"};

struct InferRequest {
  std::string model;
  std::string version;         // empty: the service picks (usually the latest)
  std::string id;              // echoed back in the response; may be empty
  std::vector<Tensor> inputs;  // validated: data matches shape and datatype
  // Names of the outputs the client asked for; empty means all outputs. The front end
  // emits only these (in this order) when the list is not empty, so the service must
  // return at least these and report kInvalidArgument for names the model lacks.
  std::vector<std::string> requested_outputs;
  // Whether an output is sent as raw bytes (binary tensor extension) rather than JSON, per
  // output name, with "" as the default for all outputs. Informational for the service.
  std::map<std::string, bool> binary_outputs;
  // Request-level "parameters": binary_data_output and custom ones (string, number or
  // boolean values), never a kReservedRequestParameters name.
  nlohmann::json parameters = nlohmann::json::object();
  // Classification extension: outputs to return as their top-N classes (Triton's BYTES
  // "value:index[:label]"), by name. The service does the classification.
  std::map<std::string, int> class_counts;
  // System shared memory extension: inputs read from and outputs written to registered
  // regions instead of the body. The front end resolves both: the service sees inputs with
  // their data, and returns outputs as usual.
  std::map<std::string, SharedMemoryRef> input_regions;
  std::map<std::string, SharedMemoryRef> output_regions;
};

// What a front end keeps of `request` to encode the response while the service owns the
// request: model, version, id, requested_outputs, binary_outputs and output_regions (no
// inputs, no parameters).
InferRequest ReplyInfo(const InferRequest& request);

struct InferResponse {
  std::string model;            // empty: the front end uses the request's model
  std::string version;          // empty: the front end uses the request's version
  std::string id;               // empty: the front end uses the request's id
  std::vector<Tensor> outputs;  // each must be consistent (data size matches shape)
};

// Implementations must be thread-safe: every method may be called concurrently from any of
// the server's I/O threads. The synchronous methods should be quick (they run on an I/O
// thread). Errors map to HTTP statuses through HttpStatusFor: kNotFound for an unknown
// model or version (404), kUnavailable for a model that is not ready (503),
// kInvalidArgument for a request the model cannot take (400).
class InferenceService {
 public:
  virtual ~InferenceService() = default;

  // Whether the server process is alive / ready to serve (GET /v2/health/live, ready).
  virtual bool Live() = 0;
  virtual bool Ready() = 0;

  // KServe server metadata: {"name", "version", "extensions": [...]}.
  virtual Result<nlohmann::json> ServerMetadata() = 0;

  // KServe model metadata: {"name", "versions", "platform", "inputs": [{"name", "datatype",
  // "shape"}], "outputs": [...]}. `version` empty means the default version.
  virtual Result<nlohmann::json> ModelMetadata(const std::string& model,
                                               const std::string& version) = 0;

  // Triton's model configuration extension: the model's config in Triton's JSON form
  // (GET /v2/models/{m}[/versions/{v}]/config). The default answers kUnsupported.
  virtual Result<nlohmann::json> ModelConfig(const std::string& model, const std::string& version);

  // Whether the model (version) can take requests now; kNotFound when it does not exist.
  virtual Result<bool> ModelReady(const std::string& model, const std::string& version) = 0;

  // Triton-shaped statistics: {"model_stats": [{"name", "version", "inference_count",
  // "execution_count", "inference_stats": {...}}]}. `model` empty means all models.
  virtual Result<nlohmann::json> ModelStats(const std::string& model,
                                            const std::string& version) = 0;

  // Runs one inference asynchronously. `done` is called exactly once, on any thread
  // (possibly inside Infer itself), with the response or the error. The service owns
  // `request` from here on; `done` must not be called after the service is destroyed.
  virtual void Infer(InferRequest request, std::function<void(Result<InferResponse>)> done) = 0;

  // Runs one inference whose model may answer several times (Triton's decoupled models;
  // what gRPC ModelStreamInfer and HTTP generate_stream serve). `each` is called for every
  // response in order, with final=true on the last call (exactly once), which carries no
  // response (nullopt) when the model ended without one. A response may be an error without
  // being the last. The default runs Infer and passes its one response as the final one.
  using StreamCallback = std::function<void(std::optional<Result<InferResponse>>, bool final)>;
  virtual void InferStream(InferRequest request, StreamCallback each);

  // The HTTP server lends its I/O threads: `loop` while they run, null once they have
  // stopped (before the server is destroyed). A service may watch descriptors on it, for
  // example to complete Infer calls on the thread that writes the reply. Called from the
  // thread that starts or stops the server. The default ignores it.
  virtual void UseEventLoop(EventLoop* loop);

  // ---- Operations. Defaults answer kUnsupported ("not supported by this server"). ----
  using JsonCallback = std::function<void(Result<nlohmann::json>)>;

  // GET /metrics: the Prometheus text exposition (format 0.0.4).
  virtual Result<std::string> Metrics();
  // GET /v2/modelgrid/status (ModelGrid extension): devices, workers and models with their
  // memory (estimated, planned, measured) and request counts. See docs/OPERATIONS.md.
  virtual Result<nlohmann::json> ServerStatus();
  // POST /v2/repository/index (Triton's repository extension): an array of
  // {"name", "version", "state", "reason"} for every model in the repository; only ready
  // ones when `ready_only`.
  virtual Result<nlohmann::json> RepositoryIndex(bool ready_only);
  // POST /v2/repository/models/{m}/load and .../unload. `request` is the request body
  // (an object, {} when empty). `done` is called exactly once, possibly on another
  // thread, with a JSON object describing what happened.
  virtual void LoadModel(const std::string& model, const nlohmann::json& request,
                         JsonCallback done);
  virtual void UnloadModel(const std::string& model, const nlohmann::json& request,
                           JsonCallback done);
  // POST /v2/modelgrid/models/{m}/move (ModelGrid extension): moves a model to another
  // worker or device without failing a request. `request`: {"device"?, "worker"?}.
  virtual void MoveModel(const std::string& model, const nlohmann::json& request,
                         JsonCallback done);
  // POST /v2/modelgrid/replan (ModelGrid extension): re-plans the live models and moves
  // those whose placement changes. `request`: {"strategy"?, "dry_run"?}.
  virtual void Replan(const nlohmann::json& request, JsonCallback done);
};

}  // namespace modelgrid::server
