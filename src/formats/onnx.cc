#include "formats/onnx.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "formats/onnx_internal.h"
#include "formats/protobuf_wire.h"

namespace modelgrid {

namespace {

using pb::Field;
using pb::MessageReader;
using pb::WireType;
using namespace onnx_internal;  // NOLINT: the parser's own internals

constexpr size_t kMaxNodes = size_t{1} << 20;
constexpr size_t kMaxInitializers = size_t{1} << 20;
constexpr size_t kMaxValueInfos = size_t{1} << 20;
constexpr size_t kMaxNodeIo = size_t{1} << 16;      // inputs, outputs, attributes per node
constexpr size_t kMaxAttrValues = size_t{1} << 20;  // ints / floats of one attribute

Status ParseDims(MessageReader msg, OnnxValueInfo* out) {
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    if (f.number != 1) continue;
    if (out->shape.size() >= kMaxDims) return CorruptData("value has more than 64 dims");
    MG_ASSIGN_OR_RETURN(MessageReader dim, msg.Sub(f));
    OnnxDim d;
    while (!dim.done()) {
      MG_ASSIGN_OR_RETURN(Field g, dim.Next());
      if (g.number == 1) {
        MG_RETURN_IF_ERROR(Expect(g, WireType::kVarint, "dim_value"));
        d.value = static_cast<int64_t>(g.value);
        d.param.clear();
      } else if (g.number == 2) {
        MG_ASSIGN_OR_RETURN(d.param, dim.String(g, kMaxStringBytes));
        d.value = -1;
      }
    }
    out->shape.push_back(std::move(d));
  }
  out->has_shape = true;
  return Status::Ok();
}

// TypeProto: tensor types are read; sequences and optionals are walked (depth-limited)
// but leave the value without a tensor type.
Status ParseType(MessageReader msg, OnnxValueInfo* out) {
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    if (f.number == 1) {  // tensor_type
      MG_ASSIGN_OR_RETURN(MessageReader tensor, msg.Sub(f));
      while (!tensor.done()) {
        MG_ASSIGN_OR_RETURN(Field g, tensor.Next());
        if (g.number == 1) {
          MG_RETURN_IF_ERROR(Expect(g, WireType::kVarint, "elem_type"));
          bool nibbles = false;
          out->dtype = DTypeFromOnnx(static_cast<int64_t>(g.value), &nibbles);
        } else if (g.number == 2) {
          MG_ASSIGN_OR_RETURN(MessageReader shape, tensor.Sub(g));
          out->shape.clear();
          MG_RETURN_IF_ERROR(ParseDims(shape, out));
        }
      }
    } else if (f.number == 4 || f.number == 9) {  // sequence_type, optional_type
      MG_ASSIGN_OR_RETURN(MessageReader inner, msg.Sub(f));
      while (!inner.done()) {
        MG_ASSIGN_OR_RETURN(Field g, inner.Next());
        if (g.number != 1) continue;
        MG_ASSIGN_OR_RETURN(MessageReader elem, inner.Sub(g));
        OnnxValueInfo ignored;
        MG_RETURN_IF_ERROR(ParseType(elem, &ignored));
      }
    }
  }
  return Status::Ok();
}

Result<OnnxValueInfo> ParseValueInfo(MessageReader msg) {
  OnnxValueInfo v;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    if (f.number == 1) {
      MG_ASSIGN_OR_RETURN(v.name, msg.String(f, kMaxStringBytes));
    } else if (f.number == 2) {
      MG_ASSIGN_OR_RETURN(MessageReader type, msg.Sub(f));
      MG_RETURN_IF_ERROR(ParseType(type, &v));
    }
  }
  return v;
}

Result<OnnxAttribute> ParseAttribute(MessageReader msg, ParseContext* ctx) {
  OnnxAttribute a;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    switch (f.number) {
      case 1: {
        MG_ASSIGN_OR_RETURN(a.name, msg.String(f, kMaxStringBytes));
        break;
      }
      case 2: {
        MG_RETURN_IF_ERROR(Expect(f, WireType::kFixed32, "AttributeProto.f"));
        uint32_t bits = static_cast<uint32_t>(f.value);
        float v;
        std::memcpy(&v, &bits, 4);
        a.f = v;
        break;
      }
      case 3:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "AttributeProto.i"));
        a.i = static_cast<int64_t>(f.value);
        break;
      case 4: {
        MG_ASSIGN_OR_RETURN(a.s, msg.String(f, kMaxStringBytes));
        break;
      }
      case 5: {
        MG_ASSIGN_OR_RETURN(MessageReader sub, msg.Sub(f));
        MG_ASSIGN_OR_RETURN(ParsedTensor t, ParseTensor(sub));
        MG_RETURN_IF_ERROR(FinishTensor(&t, ctx));
        a.has_tensor = true;
        a.t_dims = std::move(t.info.shape);
        a.t_dtype = t.info.dtype;
        a.t_int64_data = std::move(t.int64s);
        a.t_float_data = std::move(t.floats);
        break;
      }
      case 7:
        MG_RETURN_IF_ERROR(msg.AppendFloats(f, &a.floats, kMaxAttrValues));
        break;
      case 8:
        MG_RETURN_IF_ERROR(msg.AppendVarints(f, &a.ints, kMaxAttrValues));
        break;
      case 20:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "AttributeProto.type"));
        a.type = static_cast<int32_t>(f.value);
        break;
      default:
        break;  // subgraphs (g, graphs), strings, tensors, sparse tensors: not needed
    }
  }
  return a;
}

Result<OnnxNode> ParseNode(MessageReader msg, ParseContext* ctx) {
  OnnxNode n;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    switch (f.number) {
      case 1:
      case 2: {
        auto& list = f.number == 1 ? n.inputs : n.outputs;
        if (list.size() >= kMaxNodeIo) return CorruptData("node has too many inputs or outputs");
        MG_ASSIGN_OR_RETURN(std::string s, msg.String(f, kMaxStringBytes));
        list.push_back(std::move(s));
        break;
      }
      case 3: {
        MG_ASSIGN_OR_RETURN(n.name, msg.String(f, kMaxStringBytes));
        break;
      }
      case 4: {
        MG_ASSIGN_OR_RETURN(n.op_type, msg.String(f, kMaxStringBytes));
        break;
      }
      case 5: {
        if (n.attributes.size() >= kMaxNodeIo) return CorruptData("node has too many attributes");
        MG_ASSIGN_OR_RETURN(MessageReader sub, msg.Sub(f));
        MG_ASSIGN_OR_RETURN(OnnxAttribute a, ParseAttribute(sub, ctx));
        n.attributes.push_back(std::move(a));
        break;
      }
      case 7: {
        MG_ASSIGN_OR_RETURN(n.domain, msg.String(f, kMaxStringBytes));
        break;
      }
      default:
        break;
    }
  }
  return n;
}

Status ParseGraph(MessageReader msg, ParseContext* ctx, OnnxModel* model) {
  std::vector<OnnxValueInfo> inputs;
  bool noted_sparse = false;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    if (f.number != 1 && f.number != 5 && f.number != 11 && f.number != 12 && f.number != 13 &&
        f.number != 15) {
      continue;
    }
    MG_ASSIGN_OR_RETURN(MessageReader sub, msg.Sub(f));
    switch (f.number) {
      case 1: {
        if (model->nodes.size() >= kMaxNodes) return CorruptData("more than 1M nodes");
        MG_ASSIGN_OR_RETURN(OnnxNode n, ParseNode(sub, ctx));
        model->nodes.push_back(std::move(n));
        break;
      }
      case 5: {
        if (model->initializers.size() >= kMaxInitializers) {
          return CorruptData("more than 1M initializers");
        }
        MG_ASSIGN_OR_RETURN(ParsedTensor t, ParseTensor(sub));
        MG_RETURN_IF_ERROR(FinishTensor(&t, ctx));
        if (!t.int64s.empty() || (t.info.dtype == DType::kI64 && t.info.elements == 0)) {
          model->small_int64_initializers[t.info.name] = std::move(t.int64s);
        }
        if (!t.floats.empty()) model->small_float_initializers[t.info.name] = std::move(t.floats);
        model->initializers.push_back(std::move(t.info));
        break;
      }
      case 11:
      case 12:
      case 13: {
        auto& list = f.number == 11 ? inputs : f.number == 12 ? model->outputs : model->value_infos;
        if (list.size() >= kMaxValueInfos) return CorruptData("too many value infos");
        MG_ASSIGN_OR_RETURN(OnnxValueInfo v, ParseValueInfo(sub));
        list.push_back(std::move(v));
        break;
      }
      case 15:
        if (!noted_sparse) {
          model->notes.push_back("sparse initializers are not counted");
          noted_sparse = true;
        }
        break;
    }
  }
  // Since IR version 4, initializers may be listed as inputs too (to be overridable);
  // they are weights, not inputs.
  std::set<std::string> init_names;
  for (const auto& t : model->initializers) init_names.insert(t.name);
  for (auto& v : inputs) {
    if (!init_names.count(v.name)) model->inputs.push_back(std::move(v));
  }
  return Status::Ok();
}

}  // namespace

const OnnxAttribute* OnnxNode::FindAttribute(const std::string& attr_name) const {
  for (const auto& a : attributes) {
    if (a.name == attr_name) return &a;
  }
  return nullptr;
}

Result<OnnxModel> ParseOnnx(const ByteReader& reader, const std::string& base_dir) {
  ParseContext ctx{&reader, base_dir, {}};
  OnnxModel model;
  MessageReader msg(reader);
  bool has_graph = false;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    switch (f.number) {
      case 1:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "ModelProto.ir_version"));
        model.ir_version = static_cast<int64_t>(f.value);
        break;
      case 2: {
        MG_ASSIGN_OR_RETURN(model.producer_name, msg.String(f, kMaxStringBytes));
        break;
      }
      case 7: {
        MG_ASSIGN_OR_RETURN(MessageReader graph, msg.Sub(f));
        MG_RETURN_IF_ERROR(ParseGraph(graph, &ctx, &model));
        has_graph = true;
        break;
      }
      case 8: {
        MG_ASSIGN_OR_RETURN(MessageReader opset, msg.Sub(f));
        std::string domain;
        int64_t version = 0;
        while (!opset.done()) {
          MG_ASSIGN_OR_RETURN(Field g, opset.Next());
          if (g.number == 1) {
            MG_ASSIGN_OR_RETURN(domain, opset.String(g, kMaxStringBytes));
          } else if (g.number == 2) {
            MG_RETURN_IF_ERROR(Expect(g, WireType::kVarint, "OperatorSetIdProto.version"));
            version = static_cast<int64_t>(g.value);
          }
        }
        if (domain == "ai.onnx") domain.clear();
        if (model.opsets.size() >= 4096) return CorruptData("too many opset imports");
        model.opsets[domain] = version;
        break;
      }
      default:
        break;
    }
  }
  if (!has_graph) return CorruptData("ONNX model has no graph");
  if (model.opsets.empty()) return CorruptData("ONNX model has no opset_import");
  return model;
}

Result<OnnxModel> ParseOnnxFile(const std::string& path) {
  MG_ASSIGN_OR_RETURN(std::unique_ptr<FileByteReader> reader, FileByteReader::Open(path));
  std::filesystem::path base_dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (base_dir.empty()) base_dir = std::filesystem::current_path(ec);
  auto model = ParseOnnx(*reader, base_dir.string());
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

}  // namespace modelgrid
