// What `modelgrid perf` sends to one model: its inputs resolved from KServe metadata,
// and the tensors of each request variant.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "perf/input_data_file.h"
#include "perf/tensor_data.h"

namespace modelgrid::perf {

struct InputSpec {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;  // concrete: no -1 left
};

struct ModelSpec {
  std::string name;
  std::vector<InputSpec> inputs;
  std::vector<std::string> outputs;    // output names from the metadata (may be empty)
  int64_t inferences_per_request = 1;  // the batch when the model has a batch dimension
};

// Input name -> dims given with --shape NAME:d1,d2 (the dims after the batch dimension
// when the model's shape starts with -1, the whole shape otherwise). NAME is "model/input"
// for one model's input, or "input" for every model's input of that name that has a
// variable dimension.
using ShapeOverrides = std::map<std::string, std::vector<int64_t>>;

// Resolves GET /v2/models/{m} metadata: a leading -1 becomes `batch`; any other -1 must be
// given in `shapes` (else kInvalidArgument naming the input and how to fix it). Pure.
Result<ModelSpec> ResolveModel(const std::string& model, const nlohmann::json& metadata,
                               int64_t batch, const ShapeOverrides& shapes);

// One request's tensors per variant: a single generated variant (`mode`), or one per
// entry of `entries` when given (values checked against each input's datatype; an entry's
// own shape wins over the resolved one). Errors name the model, entry and input.
Result<std::vector<std::vector<TensorData>>> BuildRequestTensors(
    const ModelSpec& model, DataMode mode, const std::vector<InputDataEntry>* entries,
    uint64_t seed);

}  // namespace modelgrid::perf
