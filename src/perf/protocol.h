// The wire `modelgrid perf` loads a server over: KServe v2 over HTTP (MakeHttpProtocol) or
// gRPC (perf_grpc/, in builds with gRPC). The load generator sees only this interface.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "perf/tensor_data.h"

namespace modelgrid::perf {

struct PerfOptions;

// One sender's connection (its own socket). Used by one thread at a time.
class PerfConnection {
 public:
  virtual ~PerfConnection() = default;
  // Sends request `variant` of model `model` (as AddRequest encoded them) and waits for the
  // answer: "" when it succeeded, else a short error text (status and message).
  virtual std::string Infer(size_t model, size_t variant) = 0;
};

// The calls before the load, the encoding, and connections. Preparation (everything but
// Connect's connections) happens on one thread before the load starts.
class PerfProtocol {
 public:
  virtual ~PerfProtocol() = default;
  // The names of the ready models, sorted and unique; kNotFound when there is none.
  virtual Result<std::vector<std::string>> ListReadyModels() = 0;
  // The model's KServe v2 metadata as JSON: {"name", "inputs": [{"name", "datatype",
  // "shape"}], "outputs": [...]}.
  virtual Result<nlohmann::json> ModelMetadata(const std::string& model) = 0;
  // Encodes the next request variant of model `model` (0, 1, ... in the order the models
  // were first given), once, before the load: `outputs` are asked for (empty: all).
  virtual Status AddRequest(size_t model, const std::string& name,
                            const std::vector<TensorData>& inputs,
                            const std::vector<std::string>& outputs) = 0;
  // A new connection for one sender thread.
  virtual Result<std::unique_ptr<PerfConnection>> Connect() = 0;
};

// KServe v2 over HTTP/1.1 (keep-alive), JSON or binary tensors per `options.binary`.
std::unique_ptr<PerfProtocol> MakeHttpProtocol(const PerfOptions& options);

}  // namespace modelgrid::perf
