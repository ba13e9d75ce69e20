// Test-only: a tiny protobuf wire-format encoder, and helpers that build ONNX messages
// with it, so tests can hand-craft valid and broken models without the onnx package.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelgrid::testing {

class ProtoBuilder {
 public:
  static std::string EncodeVarint(uint64_t v) {
    std::string out;
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
    return out;
  }
  ProtoBuilder& Tag(uint32_t field, uint32_t wire_type) {
    bytes_ += EncodeVarint((uint64_t{field} << 3) | wire_type);
    return *this;
  }
  ProtoBuilder& Varint(uint32_t field, uint64_t v) {
    Tag(field, 0);
    bytes_ += EncodeVarint(v);
    return *this;
  }
  ProtoBuilder& Fixed32(uint32_t field, uint32_t v) {
    Tag(field, 5);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  ProtoBuilder& Float(uint32_t field, float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return Fixed32(field, bits);
  }
  ProtoBuilder& Bytes(uint32_t field, std::string_view b) {
    Tag(field, 2);
    bytes_ += EncodeVarint(b.size());
    bytes_ += b;
    return *this;
  }
  ProtoBuilder& Message(uint32_t field, const ProtoBuilder& m) { return Bytes(field, m.bytes()); }
  ProtoBuilder& PackedVarints(uint32_t field, const std::vector<int64_t>& vs) {
    std::string payload;
    for (int64_t v : vs) payload += EncodeVarint(static_cast<uint64_t>(v));
    return Bytes(field, payload);
  }
  ProtoBuilder& Raw(std::string_view b) {
    bytes_ += b;
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// ONNX message helpers (field numbers from onnx.proto).
namespace onnx_build {

enum : int64_t { kFloat = 1, kUint8 = 2, kInt32 = 6, kInt64 = 7, kBool = 9, kFloat16 = 10 };

inline size_t ElemSize(int64_t type) {
  switch (type) {
    case kUint8:
    case kBool:
      return 1;
    case kFloat16:
      return 2;
    case kInt64:
      return 8;
    default:
      return 4;
  }
}

inline ProtoBuilder TensorHeader(const std::string& name, int64_t type,
                                 const std::vector<int64_t>& dims) {
  ProtoBuilder t;
  for (int64_t d : dims) t.Varint(1, static_cast<uint64_t>(d));
  t.Varint(2, static_cast<uint64_t>(type));
  t.Bytes(8, name);
  return t;
}

inline size_t Elements(const std::vector<int64_t>& dims) {
  size_t n = 1;
  for (int64_t d : dims) n *= static_cast<size_t>(d);
  return n;
}

// A tensor with zero-filled raw_data of the right length.
inline ProtoBuilder RawTensor(const std::string& name, int64_t type,
                              const std::vector<int64_t>& dims) {
  ProtoBuilder t = TensorHeader(name, type, dims);
  t.Bytes(9, std::string(Elements(dims) * ElemSize(type), '\0'));
  return t;
}

// An int64 tensor with raw little-endian values.
inline ProtoBuilder Int64Tensor(const std::string& name, const std::vector<int64_t>& values,
                                bool scalar = false) {
  ProtoBuilder t = TensorHeader(
      name, kInt64, scalar ? std::vector<int64_t>{} : std::vector<int64_t>{int64_t(values.size())});
  std::string raw;
  for (int64_t v : values) {
    for (int i = 0; i < 8; ++i)
      raw.push_back(static_cast<char>(static_cast<uint64_t>(v) >> (8 * i)));
  }
  t.Bytes(9, raw);
  return t;
}

// A float tensor stored in packed float_data.
inline ProtoBuilder FloatTensor(const std::string& name, const std::vector<float>& values) {
  ProtoBuilder t = TensorHeader(name, kFloat, {int64_t(values.size())});
  std::string raw;
  for (float f : values) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) raw.push_back(static_cast<char>(bits >> (8 * i)));
  }
  t.Bytes(4, raw);
  return t;
}

// Dims: a number >= 0 is fixed; "" or a name is symbolic.
struct Dim {
  int64_t value = -1;
  std::string param;
  Dim(int64_t v) : value(v) {}      // NOLINT: implicit for brevity
  Dim(const char* p) : param(p) {}  // NOLINT
};

inline ProtoBuilder ValueInfo(const std::string& name, int64_t elem_type,
                              const std::vector<Dim>& dims) {
  ProtoBuilder shape;
  for (const Dim& d : dims) {
    ProtoBuilder dim;
    if (d.value >= 0) {
      dim.Varint(1, static_cast<uint64_t>(d.value));
    } else {
      dim.Bytes(2, d.param);
    }
    shape.Message(1, dim);
  }
  ProtoBuilder tensor_type;
  tensor_type.Varint(1, static_cast<uint64_t>(elem_type)).Message(2, shape);
  ProtoBuilder type;
  type.Message(1, tensor_type);
  ProtoBuilder vi;
  vi.Bytes(1, name).Message(2, type);
  return vi;
}

inline ProtoBuilder AttrInt(const std::string& name, int64_t v) {
  ProtoBuilder a;
  a.Bytes(1, name).Varint(3, static_cast<uint64_t>(v)).Varint(20, 2);
  return a;
}
inline ProtoBuilder AttrFloat(const std::string& name, float v) {
  ProtoBuilder a;
  a.Bytes(1, name).Float(2, v).Varint(20, 1);
  return a;
}
inline ProtoBuilder AttrInts(const std::string& name, const std::vector<int64_t>& vs,
                             bool packed = false) {
  ProtoBuilder a;
  a.Bytes(1, name);
  if (packed) {
    a.PackedVarints(8, vs);
  } else {
    for (int64_t v : vs) a.Varint(8, static_cast<uint64_t>(v));
  }
  a.Varint(20, 7);
  return a;
}
inline ProtoBuilder AttrString(const std::string& name, const std::string& s) {
  ProtoBuilder a;
  a.Bytes(1, name).Bytes(4, s).Varint(20, 3);
  return a;
}
inline ProtoBuilder AttrTensor(const std::string& name, const ProtoBuilder& tensor) {
  ProtoBuilder a;
  a.Bytes(1, name).Message(5, tensor).Varint(20, 4);
  return a;
}

inline ProtoBuilder Node(const std::string& op, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs,
                         const std::vector<ProtoBuilder>& attrs = {}) {
  ProtoBuilder n;
  for (const auto& i : inputs) n.Bytes(1, i);
  for (const auto& o : outputs) n.Bytes(2, o);
  n.Bytes(3, op + "_" + (outputs.empty() ? std::string() : outputs[0]));
  n.Bytes(4, op);
  for (const auto& a : attrs) n.Message(5, a);
  return n;
}

struct Graph {
  std::vector<ProtoBuilder> nodes, initializers, inputs, outputs;
  ProtoBuilder Build() const {
    ProtoBuilder g;
    for (const auto& n : nodes) g.Message(1, n);
    g.Bytes(2, "test_graph");
    for (const auto& t : initializers) g.Message(5, t);
    for (const auto& i : inputs) g.Message(11, i);
    for (const auto& o : outputs) g.Message(12, o);
    return g;
  }
};

// A ModelProto whose opset_import comes last, so every strict prefix lacks it.
inline std::string Model(const Graph& graph, int64_t opset = 17) {
  ProtoBuilder opset_id;
  opset_id.Bytes(1, "").Varint(2, static_cast<uint64_t>(opset));
  ProtoBuilder m;
  m.Varint(1, 8).Bytes(2, "modelgrid-test").Message(7, graph.Build()).Message(8, opset_id);
  return m.bytes();
}

}  // namespace onnx_build
}  // namespace modelgrid::testing
