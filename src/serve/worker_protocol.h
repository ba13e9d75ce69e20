// What the server and a worker say to each other over the shared-memory rings (on top of
// ipc/shm_layout.h), and the type mappings between the HTTP API, the wire and backends.
//
//   kLoad   slot = model slot; tensor 0 "config" (kBytes) holds LoadConfigToJson(). The
//           response text holds {"peak_bytes", "weights_bytes", "instances"}: the largest
//           warm-up peak of one instance, and its weights.
//   kInfer  slot = model slot; tensors are the inputs by name; the response's tensors are
//           the outputs, written into the request's response region.
//   kUnload slot = model slot.
//   kPark, kUnpark  slot = model slot: every instance's weights to host memory, or back. The
//           response text holds {"bytes"}: how many moved.
//   kPing   answered at once.
//   kMetrics answered at once: tensor 0 "metrics" (kBytes) holds Backend::CustomMetrics()
//           (a JSON array), written into the request's response region.
//   kShutdown answered, then the worker exits 0.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "backends/backend.h"
#include "common/status.h"
#include "formats/triton_config.h"
#include "ipc/shm_layout.h"

namespace modelgrid {

// Backend dtype <-> wire dtype. (KServe names: TensorDTypeName and ParseTensorDType in
// backends/backend.h.)
ipc::WireDType WireFromTensorDType(TensorDType dtype);
Result<TensorDType> TensorDTypeFromWire(uint8_t wire);

// A Triton model config as a backend instance config (dims without the batch dimension,
// Triton TYPE_* names converted).
Result<ModelInstanceConfig> InstanceConfigFromTriton(const TritonModelConfig& config,
                                                     const std::string& model_path,
                                                     const std::string& device,
                                                     uint64_t memory_limit_bytes);

// The load request: the instance config and how many instances of it the slot runs (they
// serve the slot's requests side by side; 1 to kMaxSlotInstances).
inline constexpr int kMaxSlotInstances = 64;
std::string LoadConfigToJson(const ModelInstanceConfig& config, int instances = 1);
Result<ModelInstanceConfig> LoadConfigFromJson(std::string_view json, int* instances = nullptr);

}  // namespace modelgrid
