// Triton model configuration (config.pbtxt, protobuf text format): the subset ModelGrid
// reads. Unknown fields are skipped and listed in `ignored_fields` so callers can warn.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelgrid {

struct TritonTensorConfig {
  std::string name;            // "INPUT__0", "input_ids", ...
  std::string data_type;       // Triton spelling: "TYPE_FP32", "TYPE_INT64", ...
  std::vector<int64_t> dims;   // without the batch dimension when max_batch_size > 0
  std::string label_filename;  // outputs: class labels, one a line, in the model folder
};

struct TritonModelConfig {
  std::string name;
  std::string platform;        // "pytorch_libtorch", "onnxruntime_onnx", ...
  std::string backend;         // "pytorch", "onnxruntime", ...
  int64_t max_batch_size = 0;  // 0: the model takes no batch dimension
  std::vector<TritonTensorConfig> inputs;
  std::vector<TritonTensorConfig> outputs;
  // instance_group: the instances each device runs (the groups' counts added up; Triton
  // makes a group's count on each GPU it lists, or on every GPU), and the most GPUs one
  // group lists (0 when none does).
  int64_t instances_per_device = 1;
  int64_t instance_gpus = 0;
  std::string instance_kind;  // "KIND_GPU", "KIND_CPU", "KIND_AUTO" or empty
  bool dynamic_batching = false;
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_delay_microseconds = 0;
  std::map<std::string, std::string> parameters;  // key -> string_value
  bool decoupled = false;                         // model_transaction_policy { decoupled: true }
  std::vector<std::string> ignored_fields;        // top-level fields ModelGrid skipped
};

// The largest config.pbtxt read: real ones are a few KiB.
inline constexpr uint64_t kMaxTritonConfigBytes = uint64_t{1} << 20;

// Parses config.pbtxt text. Fails with kInvalidArgument naming the line on syntax errors,
// on negative dims other than -1, on max_batch_size < 0, and on inputs larger than 1 MiB.
Result<TritonModelConfig> ParseTritonConfig(std::string_view text);

}  // namespace modelgrid
