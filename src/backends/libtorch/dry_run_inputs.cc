#include "backends/libtorch/dry_run_inputs.h"

namespace modelgrid::dry_run_internal {
namespace {

struct NamedType {
  const char* name;
  c10::ScalarType type;
};

// The dtype names of DryRunOptions::input_dtypes (PyTorch's spellings).
constexpr NamedType kTypes[] = {
    {"float32", c10::ScalarType::Float},     {"float16", c10::ScalarType::Half},
    {"bfloat16", c10::ScalarType::BFloat16}, {"float64", c10::ScalarType::Double},
    {"int64", c10::ScalarType::Long},        {"int32", c10::ScalarType::Int},
    {"int16", c10::ScalarType::Short},       {"int8", c10::ScalarType::Char},
    {"uint8", c10::ScalarType::Byte},        {"bool", c10::ScalarType::Bool},
};

std::optional<c10::ScalarType> TypeNamed(const std::string& name) {
  for (const NamedType& t : kTypes) {
    if (name == t.name) return t.type;
  }
  return std::nullopt;
}

std::string KnownTypeNames() {
  std::string out;
  for (const NamedType& t : kTypes) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string ScalarTypeName(c10::ScalarType type) {
  for (const NamedType& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return c10::toString(type);
}

Result<std::vector<InputSpec>> ParseInputs(const DryRunOptions& options,
                                           std::vector<std::string>& assumptions) {
  if (options.input_shapes.empty()) {
    assumptions.push_back(
        "no input shapes given: assumed one floating input [B, 3, 224, 224] in the module's "
        "floating type");
    return std::vector<InputSpec>{{{3, 224, 224}, c10::ScalarType::Float, true}};
  }
  if (!options.input_dtypes.empty() && options.input_dtypes.size() != options.input_shapes.size()) {
    return InvalidArgument("dry run: " + std::to_string(options.input_dtypes.size()) +
                           " input dtypes for " + std::to_string(options.input_shapes.size()) +
                           " input shapes");
  }
  std::vector<InputSpec> specs;
  for (size_t i = 0; i < options.input_shapes.size(); ++i) {
    InputSpec spec{options.input_shapes[i], c10::ScalarType::Float, options.input_dtypes.empty()};
    for (int64_t dim : spec.shape) {
      if (dim < 1) return InvalidArgument("dry run: bad input shape " + ShapeString(spec.shape));
    }
    if (!spec.follows_module) {
      const std::optional<c10::ScalarType> type = TypeNamed(options.input_dtypes[i]);
      if (!type) {
        return InvalidArgument("dry run: input dtype '" + options.input_dtypes[i] +
                               "' is not supported (" + KnownTypeNames() + ")");
      }
      spec.dtype = *type;
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::optional<c10::ScalarType> ModuleFloatType(const torch::jit::Module& module) {
  for (const at::Tensor& p : module.parameters()) {
    if (p.is_floating_point()) return p.scalar_type();
  }
  for (const at::Tensor& b : module.buffers()) {
    if (b.is_floating_point()) return b.scalar_type();
  }
  return std::nullopt;
}

void ResolveInputTypes(std::vector<InputSpec>& specs, std::optional<c10::ScalarType> module_type) {
  for (InputSpec& spec : specs) {
    if (spec.follows_module) spec.dtype = module_type.value_or(c10::ScalarType::Float);
  }
}

bool IsReducedFloat(c10::ScalarType type) {
  return type == c10::ScalarType::Half || type == c10::ScalarType::BFloat16;
}

void ConvertReducedToFloat(torch::jit::Module& module, std::vector<InputSpec>& specs) {
  // Module::to(dtype) would convert integer buffers too (token ids, counters).
  auto convert = [](at::Tensor t) {
    if (IsReducedFloat(t.scalar_type())) t.set_data(t.to(c10::ScalarType::Float));
  };
  for (const at::Tensor& p : module.parameters()) convert(p);
  for (const at::Tensor& b : module.buffers()) convert(b);
  for (InputSpec& spec : specs) {
    if (IsReducedFloat(spec.dtype)) spec.dtype = c10::ScalarType::Float;
  }
}

uint32_t ComputeElementBytes(std::optional<c10::ScalarType> module_type,
                             const std::vector<InputSpec>& specs) {
  if (module_type) return static_cast<uint32_t>(c10::elementSize(*module_type));
  for (const InputSpec& spec : specs) {
    if (c10::isFloatingType(spec.dtype)) return static_cast<uint32_t>(c10::elementSize(spec.dtype));
  }
  return 4;
}

uint64_t InputBytes(const std::vector<InputSpec>& specs, int64_t batch, uint32_t float_bytes) {
  uint64_t total = 0;
  for (const auto& spec : specs) {
    uint64_t elements = static_cast<uint64_t>(batch);
    for (int64_t dim : spec.shape) elements *= static_cast<uint64_t>(dim);
    total +=
        elements * (c10::isFloatingType(spec.dtype) ? float_bytes : c10::elementSize(spec.dtype));
  }
  return total;
}

std::vector<c10::IValue> MakeInputs(const std::vector<InputSpec>& specs, int64_t batch) {
  std::vector<c10::IValue> inputs;
  for (const auto& spec : specs) {
    std::vector<int64_t> shape = {batch};
    shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
    // Zeros are valid token ids; random floats keep data-dependent paths ordinary.
    const auto options = torch::TensorOptions().dtype(spec.dtype);
    inputs.emplace_back(c10::isFloatingType(spec.dtype) ? torch::rand(shape, options)
                                                        : torch::zeros(shape, options));
  }
  return inputs;
}

std::string DescribeInputs(const std::vector<InputSpec>& specs, int64_t batch) {
  std::string out;
  for (const auto& spec : specs) {
    if (!out.empty()) out += ", ";
    std::vector<int64_t> shape = {batch};
    shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
    out += ShapeString(shape) + " " + ScalarTypeName(spec.dtype);
  }
  return out;
}

}  // namespace modelgrid::dry_run_internal
