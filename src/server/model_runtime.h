// ModelRuntime: KServe ModelMesh's model-runtime SPI (mmesh.ModelRuntime) in plain C++
// terms, what the gRPC front end (src/grpc/model_runtime_rpcs) talks to. The serving core
// implements it (ModelGrid with --modelmesh); tests may fake it.
//
// Sizes are bytes of device memory by the runtime's own accounting: the capacity that
// RuntimeStatus reports is what the models' sizes are charged against, so that ModelMesh,
// summing them, never sends a load the runtime would refuse for want of room it believes
// it has.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace modelgrid::server {

// What ModelMesh's loadModel and predictModelSize name.
struct RuntimeModelSource {
  std::string model_id;    // the name the model serves under on every endpoint
  std::string model_type;  // the model format ("pytorch", "python"); "" takes modelKey's
  std::string model_path;  // a local file or folder (ModelMesh's puller placed it)
  std::string model_key;   // ModelMesh's JSON key; only its model_type.name is read
};

struct RuntimeInfo {
  bool ready = false;  // false: STARTING (the models of the start are still loading)
  uint64_t capacity_bytes = 0;
  uint32_t max_loading_concurrency = 1;
  uint32_t model_loading_timeout_ms = 0;
  uint64_t default_model_size_bytes = 0;
  std::string runtime_version;
};

class ModelRuntime {
 public:
  virtual ~ModelRuntime() = default;

  // runtimeStatus. Once ready, every loaded model is unloaded first (the SPI's purge: a
  // restarted ModelMesh knows of none of them).
  virtual void RuntimeStatus(std::function<void(Result<RuntimeInfo>)> done) = 0;
  // predictModelSize: from the model's headers only (no model code runs), quickly; never
  // under the size a load will report, as far as the estimator knows.
  virtual Result<uint64_t> PredictModelSize(const RuntimeModelSource& source) = 0;
  // loadModel: the size charged for the loaded model. kInvalidArgument: no load was
  // attempted; kResourceExhausted: it does not fit (nothing stays allocated).
  virtual void LoadRuntimeModel(const RuntimeModelSource& source,
                                std::function<void(Result<uint64_t>)> done) = 0;
  // unloadModel: returns once the memory is released; an unknown id is OK.
  virtual void UnloadRuntimeModel(const std::string& model_id,
                                  std::function<void(Status)> done) = 0;
  // modelSize: kNotFound unless loaded through LoadRuntimeModel.
  virtual Result<uint64_t> RuntimeModelSize(const std::string& model_id) = 0;
};

}  // namespace modelgrid::server
