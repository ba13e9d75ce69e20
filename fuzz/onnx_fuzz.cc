// Fuzzes the ONNX parser and, when a model parses, shape inference and liveness.
#include <cstddef>
#include <cstdint>

#include "common/byte_reader.h"
#include "estimate/onnx_activations.h"
#include "formats/onnx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  modelgrid::MemoryByteReader reader(data, size);
  // External data must resolve to nothing: the folder does not exist.
  auto model = modelgrid::ParseOnnx(reader, "/nonexistent/modelgrid-fuzz");
  if (!model.ok() || model->nodes.size() > 10000) return 0;
  modelgrid::OnnxTraceOptions options;
  options.batch = 2;
  options.sequence = 16;
  auto result = modelgrid::BuildOnnxActivationTrace(*model, options);
  if (result.ok() && result->peak_live_bytes != result->trace.PeakLiveBytes()) __builtin_trap();
  return 0;
}
