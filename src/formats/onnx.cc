#include "formats/onnx.h"

#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "formats/protobuf_wire.h"

namespace modelgrid {

namespace {

using pb::Field;
using pb::MessageReader;
using pb::WireType;

constexpr size_t kMaxNodes = size_t{1} << 20;
constexpr size_t kMaxInitializers = size_t{1} << 20;
constexpr size_t kMaxValueInfos = size_t{1} << 20;
constexpr size_t kMaxDims = 64;
constexpr uint64_t kMaxStringBytes = 64 * 1024;
constexpr size_t kMaxNodeIo = size_t{1} << 16;      // inputs, outputs, attributes per node
constexpr size_t kMaxAttrValues = size_t{1} << 20;  // ints / floats of one attribute
constexpr size_t kMaxSmallValues = 64;              // "small" int64 / float tensors

Status Expect(const Field& f, WireType type, const char* what) {
  if (f.type != type) {
    return CorruptData(std::string(what) + ": field " + std::to_string(f.number) +
                       " has wire type " + std::to_string(static_cast<int>(f.type)));
  }
  return Status::Ok();
}

// ONNX TensorProto.DataType -> DType. Types without a DType (string, 4-bit) map to
// kUnknown; `nibbles` is set for the 4-bit ones so their bytes can still be counted.
DType DTypeFromOnnx(int64_t t, bool* nibbles) {
  *nibbles = false;
  switch (t) {
    case 1: return DType::kF32;
    case 2: return DType::kU8;
    case 3: return DType::kI8;
    case 4: return DType::kU16;
    case 5: return DType::kI16;
    case 6: return DType::kI32;
    case 7: return DType::kI64;
    case 9: return DType::kBool;
    case 10: return DType::kF16;
    case 11: return DType::kF64;
    case 12: return DType::kU32;
    case 13: return DType::kU64;
    case 14: return DType::kC64;
    case 15: return DType::kC128;
    case 16: return DType::kBF16;
    case 17:
    case 18: return DType::kF8E4M3;
    case 19:
    case 20: return DType::kF8E5M2;
    case 21:
    case 22: *nibbles = true; return DType::kUnknown;
    default: return DType::kUnknown;  // 0 undefined, 8 string, future types
  }
}

// Everything a TensorProto says about itself, before its data is checked.
struct ParsedTensor {
  TensorInfo info;
  int64_t onnx_type = 0;
  bool nibbles = false;
  bool has_raw = false;
  uint64_t raw_offset = 0;
  uint64_t raw_length = 0;
  uint64_t typed_count = 0;     // values in float_data / int32_data / int64_data / ...
  std::vector<int64_t> int64s;  // int64_data when small
  std::vector<double> floats;   // float_data / double_data when small
  std::vector<std::pair<std::string, std::string>> external;
  int64_t data_location = 0;
};

Status ParseStringEntry(MessageReader msg, std::pair<std::string, std::string>* out) {
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    if (f.number == 1 || f.number == 2) {
      MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "StringStringEntryProto"));
      MG_ASSIGN_OR_RETURN(std::string s, msg.String(f, kMaxStringBytes));
      (f.number == 1 ? out->first : out->second) = std::move(s);
    }
  }
  return Status::Ok();
}

Result<ParsedTensor> ParseTensor(MessageReader msg) {
  ParsedTensor t;
  bool too_many_int64s = false, too_many_floats = false;
  while (!msg.done()) {
    MG_ASSIGN_OR_RETURN(Field f, msg.Next());
    switch (f.number) {
      case 1:  // dims
        MG_RETURN_IF_ERROR(msg.AppendVarints(f, &t.info.shape, kMaxDims));
        break;
      case 2:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "TensorProto.data_type"));
        t.onnx_type = static_cast<int64_t>(f.value);
        break;
      case 4:    // float_data
      case 10: {  // double_data
        WireType et = f.number == 4 ? WireType::kFixed32 : WireType::kFixed64;
        MG_ASSIGN_OR_RETURN(uint64_t n, msg.CountValues(f, et));
        t.typed_count += n;
        if (f.number == 4 && !too_many_floats && t.floats.size() + n <= kMaxSmallValues) {
          MG_RETURN_IF_ERROR(msg.AppendFloats(f, &t.floats, kMaxSmallValues));
        } else {
          too_many_floats = true;
        }
        break;
      }
      case 5:    // int32_data
      case 11: {  // uint64_data
        MG_ASSIGN_OR_RETURN(uint64_t n, msg.CountValues(f, WireType::kVarint));
        t.typed_count += n;
        break;
      }
      case 6:  // string_data: one string per element
        MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "TensorProto.string_data"));
        t.typed_count += 1;
        t.info.bytes += f.length;
        break;
      case 7: {  // int64_data
        MG_ASSIGN_OR_RETURN(uint64_t n, msg.CountValues(f, WireType::kVarint));
        t.typed_count += n;
        if (!too_many_int64s && t.int64s.size() + n <= kMaxSmallValues) {
          MG_RETURN_IF_ERROR(msg.AppendVarints(f, &t.int64s, kMaxSmallValues));
        } else {
          too_many_int64s = true;
        }
        break;
      }
      case 8: {
        MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "TensorProto.name"));
        MG_ASSIGN_OR_RETURN(t.info.name, msg.String(f, kMaxStringBytes));
        break;
      }
      case 9:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kLen, "TensorProto.raw_data"));
        t.has_raw = true;
        t.raw_offset = f.offset;
        t.raw_length = f.length;
        break;
      case 13: {
        MG_ASSIGN_OR_RETURN(MessageReader sub, msg.Sub(f));
        if (t.external.size() >= 16) return CorruptData("too many external_data entries");
        t.external.emplace_back();
        MG_RETURN_IF_ERROR(ParseStringEntry(sub, &t.external.back()));
        break;
      }
      case 14:
        MG_RETURN_IF_ERROR(Expect(f, WireType::kVarint, "TensorProto.data_location"));
        t.data_location = static_cast<int64_t>(f.value);
        break;
      default:
        break;  // segment, doc_string, metadata: not needed
    }
  }
  if (too_many_int64s) t.int64s.clear();
  if (too_many_floats) t.floats.clear();
  MG_ASSIGN_OR_RETURN(t.info.elements, ElementCount(t.info.shape));
  t.info.dtype = DTypeFromOnnx(t.onnx_type, &t.nibbles);
  return t;
}

Result<uint64_t> ParseDecimal(const std::string& text, const char* what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return CorruptData(std::string("external data ") + what + " is not a number: " + text);
  }
  return v;
}

// Checks that an external data location stays inside base_dir and returns the file size.
Result<uint64_t> ExternalFileSize(const std::string& base_dir, const std::string& location,
                                  std::map<std::string, uint64_t>* cache) {
  if (location.empty()) return CorruptData("external data has an empty location");
  if (location.find('\0') != std::string::npos || location[0] == '/' || location[0] == '\\') {
    return CorruptData("external data location must be relative: " + location);
  }
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0 && end - start == 2) {
      return CorruptData("external data location leaves the model folder: " + location);
    }
    start = end + 1;
  }
  if (auto it = cache->find(location); it != cache->end()) return it->second;
  std::filesystem::path path = std::filesystem::path(base_dir) / location;
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return NotFound("external data file not found: " + path.string());
  }
  if (!std::filesystem::is_regular_file(st)) {
    return CorruptData("external data is not a regular file: " + path.string());
  }
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound("cannot stat external data file " + path.string());
  if (cache->size() < 4096) cache->emplace(location, size);
  return size;
}

struct ParseContext {
  const ByteReader* reader;
  std::string base_dir;
  std::map<std::string, uint64_t> external_sizes;
};

// Computes the tensor's bytes, checks them against its data, and reads small values.
Status FinishTensor(ParsedTensor* t, ParseContext* ctx) {
  TensorInfo& info = t->info;
  uint32_t size = DTypeSize(info.dtype);
  if (size != 0) {
    info.bytes = info.elements * size;  // elements <= 2^53, size <= 16: no overflow
  } else if (t->nibbles) {
    info.bytes = (info.elements + 1) / 2;
  }  // strings: bytes were summed from string_data
  bool typed = info.dtype != DType::kUnknown || t->nibbles;
  bool external = t->data_location == 1 || !t->external.empty();
  if (external) {
    std::string location;
    uint64_t offset = 0, length = info.bytes;
    bool has_length = false;
    for (const auto& [key, value] : t->external) {
      if (key == "location") location = value;
      if (key == "offset") { MG_ASSIGN_OR_RETURN(offset, ParseDecimal(value, "offset")); }
      if (key == "length") {
        MG_ASSIGN_OR_RETURN(length, ParseDecimal(value, "length"));
        has_length = true;
      }
    }
    if (has_length && typed && length != info.bytes) {
      return CorruptData("tensor " + info.name + ": external length " + std::to_string(length) +
                         " disagrees with its shape (" + std::to_string(info.bytes) + " bytes)");
    }
    MG_ASSIGN_OR_RETURN(uint64_t file_size,
                        ExternalFileSize(ctx->base_dir, location, &ctx->external_sizes));
    if (offset > file_size || length > file_size - offset) {
      return CorruptData("tensor " + info.name + ": external range [" + std::to_string(offset) +
                         ", +" + std::to_string(length) + ") exceeds " + location + " (" +
                         std::to_string(file_size) + " bytes)");
    }
    return Status::Ok();
  }
  if (t->has_raw && typed && t->raw_length != info.bytes) {
    return CorruptData("tensor " + info.name + ": raw_data has " + std::to_string(t->raw_length) +
                       " bytes but its shape needs " + std::to_string(info.bytes));
  }
  if (!t->has_raw && t->typed_count != 0 && info.dtype != DType::kUnknown) {
    uint64_t want = info.elements * (info.dtype == DType::kC64 || info.dtype == DType::kC128 ? 2 : 1);
    if (t->typed_count != want) {
      return CorruptData("tensor " + info.name + " stores " + std::to_string(t->typed_count) +
                         " values for " + std::to_string(info.elements) + " elements");
    }
  }
  // Small shape-carrying values, read only when stored inline.
  if (info.elements > kMaxSmallValues) {
    t->int64s.clear();
    t->floats.clear();
    return Status::Ok();
  }
  if (t->has_raw && (info.dtype == DType::kI64 || info.dtype == DType::kF32 ||
                     info.dtype == DType::kF64)) {
    uint8_t buf[kMaxSmallValues * 8];
    MG_RETURN_IF_ERROR(ctx->reader->ReadAt(t->raw_offset, t->raw_length, buf));
    t->int64s.clear();
    t->floats.clear();
    for (uint64_t i = 0; i < info.elements; ++i) {
      if (info.dtype == DType::kF32) {
        float v;
        std::memcpy(&v, buf + 4 * i, 4);
        t->floats.push_back(v);
      } else {
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits |= static_cast<uint64_t>(buf[8 * i + k]) << (8 * k);
        if (info.dtype == DType::kI64) {
          t->int64s.push_back(static_cast<int64_t>(bits));
        } else {
          double v;
          std::memcpy(&v, &bits, 8);
          t->floats.push_back(v);
        }
      }
    }
  }
  if (info.dtype != DType::kI64 || t->int64s.size() != info.elements) t->int64s.clear();
  if (t->floats.size() != info.elements) t->floats.clear();
  return Status::Ok();
}

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
    if (f.number != 1 && f.number != 5 && f.number != 11 && f.number != 12 &&
        f.number != 13 && f.number != 15) {
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
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  auto model = ParseOnnx(*reader, base_dir);
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

}  // namespace modelgrid
