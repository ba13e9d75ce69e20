// The inputs of a TorchScript dry run, and the float32 fallback for modules the CPU cannot
// run in half precision. Internal to the LibTorch backend (includes LibTorch headers); the
// dry run (dry_run.cc) is its only user.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "estimate/dry_run.h"

namespace modelgrid::dry_run_internal {

struct InputSpec {
  std::vector<int64_t> shape;  // without batch
  c10::ScalarType dtype = c10::ScalarType::Float;
  // No dtype was declared: a floating input in the module's own floating type.
  bool follows_module = false;
};

// The specs of `options` (shapes and DryRunOptions::input_dtypes names); one float input
// [3, 224, 224] following the module when no shapes are given (said in `assumptions`).
// kInvalidArgument on a bad shape, an unknown dtype name, or dtypes that do not pair with
// the shapes.
Result<std::vector<InputSpec>> ParseInputs(const DryRunOptions& options,
                                           std::vector<std::string>& assumptions);

// The floating type of the module's first floating parameter or buffer; nullopt when it
// has none (a module of operators only).
std::optional<c10::ScalarType> ModuleFloatType(const torch::jit::Module& module);

// Gives the specs that follow the module its floating type (float32 when it has none).
void ResolveInputTypes(std::vector<InputSpec>& specs, std::optional<c10::ScalarType> module_type);

// True for float16 and bfloat16, the types CPUs may lack kernels for.
bool IsReducedFloat(c10::ScalarType type);

// Converts every float16/bfloat16 parameter and buffer of `module` to float32 and the
// specs' float16/bfloat16 inputs with them. Integer buffers and inputs keep their types.
void ConvertReducedToFloat(torch::jit::Module& module, std::vector<InputSpec>& specs);

// Bytes of one element of the floating type the forward computes in: the module's, else
// the first floating input's, else float32's 4.
uint32_t ComputeElementBytes(std::optional<c10::ScalarType> module_type,
                             const std::vector<InputSpec>& specs);

// Bytes of the inputs of `specs` at `batch`, floating elements counted as `float_bytes`.
uint64_t InputBytes(const std::vector<InputSpec>& specs, int64_t batch, uint32_t float_bytes);

// Tensors of `specs` at `batch`: random floats, zero integers (valid token ids) and falses.
std::vector<c10::IValue> MakeInputs(const std::vector<InputSpec>& specs, int64_t batch);

// "[1, 3, 224, 224] float16, [1, 16] int64" for the inputs at `batch`.
std::string DescribeInputs(const std::vector<InputSpec>& specs, int64_t batch);

// "[3, 224, 224]".
std::string ShapeString(const std::vector<int64_t>& shape);

// "float16" for c10::ScalarType::Half (the names DryRunOptions::input_dtypes uses).
std::string ScalarTypeName(c10::ScalarType type);

}  // namespace modelgrid::dry_run_internal
