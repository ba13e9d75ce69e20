#include "formats/torch_archive.h"

#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "formats/pickle.h"
#include "formats/zip_reader.h"

namespace modelgrid {

namespace {

constexpr uint64_t kMaxPickleBytes = uint64_t{256} << 20;
constexpr int kMaxDepth = 512;           // nesting of containers and objects
constexpr size_t kMaxPathBytes = 65536;  // one tensor's dotted attribute path
constexpr uint64_t kMinVisitBudget = 65536;

struct NamedDType {
  std::string_view name;
  DType dtype;
};

// torch.<X>Storage classes, as pickled in persistent ids.
constexpr NamedDType kStorageClasses[] = {
    {"FloatStorage", DType::kF32},
    {"DoubleStorage", DType::kF64},
    {"HalfStorage", DType::kF16},
    {"BFloat16Storage", DType::kBF16},
    {"LongStorage", DType::kI64},
    {"IntStorage", DType::kI32},
    {"ShortStorage", DType::kI16},
    {"CharStorage", DType::kI8},
    {"ByteStorage", DType::kU8},
    {"BoolStorage", DType::kBool},
    {"ComplexFloatStorage", DType::kC64},
    {"ComplexDoubleStorage", DType::kC128},
    {"QInt8Storage", DType::kI8},
    {"QUInt8Storage", DType::kU8},
    {"QInt32Storage", DType::kI32},
    {"QUInt4x2Storage", DType::kU8},
    {"QUInt2x4Storage", DType::kU8},
    {"Float8_e4m3fnStorage", DType::kF8E4M3},
    {"Float8_e5m2Storage", DType::kF8E5M2},
    {"UInt16Storage", DType::kU16},
    {"UInt32Storage", DType::kU32},
    {"UInt64Storage", DType::kU64},
};

// torch.<dtype> globals (the dtype argument of _rebuild_tensor_v3).
constexpr NamedDType kTorchDTypes[] = {
    {"float32", DType::kF32},        {"float", DType::kF32},     {"float64", DType::kF64},
    {"double", DType::kF64},         {"float16", DType::kF16},   {"half", DType::kF16},
    {"bfloat16", DType::kBF16},      {"int64", DType::kI64},     {"long", DType::kI64},
    {"int32", DType::kI32},          {"int", DType::kI32},       {"int16", DType::kI16},
    {"short", DType::kI16},          {"int8", DType::kI8},       {"uint8", DType::kU8},
    {"bool", DType::kBool},          {"complex64", DType::kC64}, {"cfloat", DType::kC64},
    {"complex128", DType::kC128},    {"cdouble", DType::kC128},  {"uint16", DType::kU16},
    {"uint32", DType::kU32},         {"uint64", DType::kU64},    {"qint8", DType::kI8},
    {"quint8", DType::kU8},          {"qint32", DType::kI32},    {"float8_e4m3fn", DType::kF8E4M3},
    {"float8_e5m2", DType::kF8E5M2},
};

DType Lookup(const NamedDType* table, size_t n, std::string_view name) {
  for (size_t i = 0; i < n; ++i) {
    if (table[i].name == name) return table[i].dtype;
  }
  return DType::kUnknown;
}

struct Storage {
  std::string key;                // its data/ record
  DType dtype = DType::kUnknown;  // kU8 for an untyped storage
  bool untyped = false;           // numel counts bytes; the tensor carries the dtype
  uint64_t numel = 0;
};

const PickleValue* Item(const PickleValue* seq, size_t i) {
  return seq && seq->kind == PickleKind::kTuple && i < seq->items.size() ? seq->items[i] : nullptr;
}

Result<std::vector<int64_t>> IntTuple(const PickleValue* v, const char* what) {
  if (!v || !v->is_sequence())
    return CorruptData(std::string("tensor ") + what + " is not a tuple");
  std::vector<int64_t> out;
  out.reserve(v->items.size());
  for (const PickleValue* x : v->items) {
    if (!x || !x->is_int())
      return CorruptData(std::string("tensor ") + what + " has a non-integer");
    out.push_back(x->int_value);
  }
  return out;
}

// Walks the unpickled data.pkl, naming each tensor by its attribute path.
class ArchiveWalker {
 public:
  ArchiveWalker(const std::unordered_map<const PickleValue*, Storage>& storages,
                uint64_t visit_budget, TorchArchive* out)
      : storages_(storages), visits_left_(visit_budget), out_(out) {}

  Status Walk(const PickleValue* v, const std::string& path, int depth);

 private:
  Status WalkChildren(const PickleValue* v, const std::string& path, int depth);
  Status WalkEntries(const PickleValue* v, const std::string& path, int depth);
  Status AddTensor(const PickleValue* rebuild, const PickleValue* args, const std::string& path);

  const std::unordered_map<const PickleValue*, Storage>& storages_;
  uint64_t visits_left_;
  TorchArchive* out_;
  std::unordered_set<const PickleValue*> on_path_;  // cycle guard
};

bool IsTensorRebuild(const PickleValue* g) {
  return g && g->kind == PickleKind::kGlobal && g->text == "torch._utils" &&
         (g->name == "_rebuild_tensor_v2" || g->name == "_rebuild_tensor" ||
          g->name == "_rebuild_tensor_v3" || g->name == "_rebuild_qtensor");
}

std::string Join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

Status ArchiveWalker::Walk(const PickleValue* v, const std::string& path, int depth) {
  if (!v) return Status::Ok();
  if (visits_left_ == 0) {
    return ResourceExhausted("torch: pickle shares subtrees too often to walk");
  }
  --visits_left_;
  if (depth > kMaxDepth) {
    return CorruptData("torch: pickle nested deeper than " + std::to_string(kMaxDepth));
  }
  if (path.size() > kMaxPathBytes) return CorruptData("torch: attribute path too long");
  if (!on_path_.insert(v).second) return Status::Ok();  // a cycle: already being walked
  Status s = WalkChildren(v, path, depth);
  on_path_.erase(v);
  return s;
}

Status ArchiveWalker::WalkChildren(const PickleValue* v, const std::string& path, int depth) {
  if (const PickleValue* g = v->CalleeGlobal(); g && g->text.starts_with("torch.")) {
    if (IsTensorRebuild(g)) return AddTensor(g, v->args, path);
    if (g->text == "torch._utils" && g->name.starts_with("_rebuild_parameter")) {
      return Walk(Item(v->args, 0), path, depth + 1);  // (tensor, requires_grad, hooks)
    }
    if (g->text == "torch._tensor" && g->name == "_rebuild_from_type_v2") {
      // (func, type, args, state): a tensor subclass such as nn.Parameter.
      const PickleValue* func = Item(v->args, 0);
      if (IsTensorRebuild(func)) return AddTensor(func, Item(v->args, 2), path);
    }
  }
  switch (v->kind) {
    case PickleKind::kTuple:
    case PickleKind::kList:
      for (size_t i = 0; i < v->items.size(); ++i) {
        MG_RETURN_IF_ERROR(Walk(v->items[i], Join(path, std::to_string(i)), depth + 1));
      }
      break;
    case PickleKind::kCall:
      // An object: its constructor arguments, appended items, entries and state.
      if (v->args && v->args->is_sequence()) {
        for (const PickleValue* arg : v->args->items) {
          MG_RETURN_IF_ERROR(Walk(arg, path, depth + 1));
        }
      }
      for (size_t i = 0; i < v->items.size(); ++i) {
        MG_RETURN_IF_ERROR(Walk(v->items[i], Join(path, std::to_string(i)), depth + 1));
      }
      break;
    default:
      break;
  }
  MG_RETURN_IF_ERROR(WalkEntries(v, path, depth));
  if (const PickleValue* state = v->state) {
    // BUILD state: an attribute dict, or a (dict, slots) tuple whose parts share the path.
    if (state->kind == PickleKind::kTuple) {
      for (const PickleValue* part : state->items) {
        MG_RETURN_IF_ERROR(Walk(part, path, depth + 1));
      }
    } else {
      MG_RETURN_IF_ERROR(Walk(state, path, depth + 1));
    }
  }
  return Status::Ok();
}

Status ArchiveWalker::WalkEntries(const PickleValue* v, const std::string& path, int depth) {
  for (const auto& [key, value] : v->entries) {
    if (!key) continue;
    std::string child;
    if (key->is_string()) {
      // nn.Module.__dict__ of a whole-model checkpoint: these levels are not attributes.
      if (key->text == "_parameters" || key->text == "_buffers" || key->text == "_modules") {
        child = path;
      } else {
        child = Join(path, key->text);
      }
    } else if (key->is_int()) {
      child = Join(path, std::to_string(key->int_value));
    } else {
      continue;  // tuple or object keys do not name attributes
    }
    MG_RETURN_IF_ERROR(Walk(value, child, depth + 1));
  }
  return Status::Ok();
}

// args: (storage, storage_offset, size, stride, ...); _rebuild_tensor_v3 adds the dtype as
// its seventh argument.
Status ArchiveWalker::AddTensor(const PickleValue* rebuild, const PickleValue* args,
                                const std::string& path) {
  const std::string name = path.empty() ? "tensor" : path;
  auto fail = [&](const std::string& what) { return CorruptData("torch: " + name + ": " + what); };
  const PickleValue* storage_node = Item(args, 0);
  auto it = storages_.find(storage_node);
  if (it == storages_.end()) return fail("tensor without a persistent storage");
  const Storage& storage = it->second;
  const PickleValue* offset = Item(args, 1);
  if (!offset || !offset->is_int() || offset->int_value < 0) return fail("bad storage offset");
  auto shape = IntTuple(Item(args, 2), "size");
  if (!shape.ok()) return shape.status().WithContext(name);
  auto stride = IntTuple(Item(args, 3), "stride");
  if (!stride.ok()) return stride.status().WithContext(name);
  if (stride->size() != shape->size()) return fail("size and stride differ in length");

  TensorInfo t;
  t.name = name;
  t.dtype = storage.dtype;
  uint64_t capacity = storage.numel;  // elements the storage holds
  if (rebuild->name == "_rebuild_tensor_v3") {
    const PickleValue* dtype = Item(args, 6);
    if (dtype && dtype->kind == PickleKind::kGlobal && dtype->text == "torch") {
      t.dtype = Lookup(kTorchDTypes, std::size(kTorchDTypes), dtype->name);
    }
  }
  if (t.dtype == DType::kUnknown || (storage.untyped && rebuild->name != "_rebuild_tensor_v3")) {
    return Unsupported("torch: " + name + ": untyped storage without a dtype");
  }
  if (storage.untyped) capacity = storage.numel / DTypeSize(t.dtype);
  t.shape = std::move(shape).value();
  MG_ASSIGN_OR_RETURN(t.elements, ElementCount(t.shape));
  t.bytes = t.elements * DTypeSize(t.dtype);
  if (t.elements > 0) {
    // The last element the view touches must lie inside the storage.
    unsigned __int128 last = static_cast<uint64_t>(offset->int_value);
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if ((*stride)[i] < 0) return fail("negative stride");
      last += static_cast<unsigned __int128>(t.shape[i] - 1) * static_cast<uint64_t>((*stride)[i]);
    }
    if (last >= capacity) {
      return fail("view reaches element " + std::to_string(static_cast<uint64_t>(last)) +
                  " of a storage of " + std::to_string(capacity));
    }
  }
  out_->tensors.push_back(std::move(t));
  out_->views.push_back({storage.key, static_cast<uint64_t>(offset->int_value)});
  return Status::Ok();
}

// Finds the archive's root folder: the one holding data.pkl.
Result<std::string> FindRoot(const std::vector<ZipEntry>& entries) {
  for (const auto& e : entries) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && slash > 0 && e.name.substr(slash) == "/data.pkl") {
      return e.name.substr(0, slash);
    }
  }
  return CorruptData("torch: archive has no <root>/data.pkl (not a PyTorch archive)");
}

// Resolves every persistent id ('storage', class, key, location, numel) against the data/
// records, adding each distinct record's size to storage_bytes once.
Result<std::unordered_map<const PickleValue*, Storage>> ResolveStorages(
    const PickleTree& tree, const std::unordered_map<std::string, const ZipEntry*>& records,
    uint64_t* storage_bytes) {
  std::unordered_map<const PickleValue*, Storage> storages;
  std::unordered_set<std::string> counted;
  for (const PickleValue& node : tree.nodes()) {
    if (node.kind != PickleKind::kPersistent) continue;
    const PickleValue* pid = node.args;
    const PickleValue* tag = Item(pid, 0);
    const PickleValue* cls = Item(pid, 1);
    const PickleValue* key = Item(pid, 2);
    const PickleValue* numel = Item(pid, 4);
    if (!tag || !tag->is_string() || tag->text != "storage") {
      return Unsupported("torch: persistent id is not a storage: " + PickleDebugString(pid, 3));
    }
    if (!cls || cls->kind != PickleKind::kGlobal || !key || !key->is_string() || !numel ||
        !numel->is_int() || numel->int_value < 0) {
      return CorruptData("torch: malformed storage id " + PickleDebugString(pid, 3));
    }
    Storage s;
    s.key = key->text;
    s.numel = static_cast<uint64_t>(numel->int_value);
    if (cls->name == "UntypedStorage") {
      s.untyped = true;
      s.dtype = DType::kU8;
    } else if (cls->text == "torch") {
      s.dtype = Lookup(kStorageClasses, std::size(kStorageClasses), cls->name);
    }
    if (s.dtype == DType::kUnknown) {
      return Unsupported("torch: unknown storage class " + cls->text + "." + cls->name);
    }
    auto it = records.find(key->text);
    if (it == records.end()) return CorruptData("torch: no data record for storage " + key->text);
    const uint64_t record_bytes = it->second->uncompressed_bytes;
    if (s.numel > record_bytes / DTypeSize(s.dtype)) {
      return CorruptData("torch: storage " + key->text + " holds " + std::to_string(s.numel) +
                         " elements but its record has only " + std::to_string(record_bytes) +
                         " bytes");
    }
    if (counted.insert(key->text).second) *storage_bytes += record_bytes;
    storages.emplace(&node, s);
  }
  return storages;
}

bool LooksLikeLegacyTorchSave(const ByteReader& reader) {
  uint8_t head[3];
  return reader.ReadAt(0, sizeof head, head).ok() && head[0] == 0x80 && head[1] == 0x02 &&
         head[2] == 0x8a;
}

}  // namespace

Result<TorchArchive> ParseTorchArchive(const ByteReader& reader) {
  if (LooksLikeLegacyTorchSave(reader)) {
    return Unsupported(
        "torch: legacy (pre-1.6, non-zip) torch.save format; re-save it with "
        "a current PyTorch");
  }
  MG_ASSIGN_OR_RETURN(std::vector<ZipEntry> entries, ReadZipDirectory(reader));
  TorchArchive archive;
  MG_ASSIGN_OR_RETURN(archive.root, FindRoot(entries));
  const std::string data_prefix = archive.root + "/data/";
  const std::string code_prefix = archive.root + "/code/";
  std::unordered_map<std::string, const ZipEntry*> records;
  const ZipEntry* data_pkl = nullptr;
  for (const auto& e : entries) {
    if (e.name.starts_with(data_prefix)) {
      if (!e.stored()) {
        return CorruptData("torch: data record " + e.name + " is compressed (method " +
                           std::to_string(e.method) + "); PyTorch stores weights uncompressed");
      }
      records.emplace(e.name.substr(data_prefix.size()), &e);
    } else if (e.name == archive.root + "/data.pkl") {
      if (!data_pkl) data_pkl = &e;
    } else if (e.name.starts_with(code_prefix) || e.name == archive.root + "/constants.pkl") {
      archive.is_torchscript = true;
    }
  }
  MG_ASSIGN_OR_RETURN(std::string pickle_bytes, ReadZipEntry(reader, *data_pkl, kMaxPickleBytes));
  auto tree = ParsePickle(pickle_bytes);
  if (!tree.ok()) return tree.status().WithContext(data_pkl->name);
  MG_ASSIGN_OR_RETURN(auto storages, ResolveStorages(*tree, records, &archive.storage_bytes));
  const uint64_t budget = kMinVisitBudget + 2 * tree->nodes().size();
  ArchiveWalker walker(storages, budget, &archive);
  MG_RETURN_IF_ERROR(walker.Walk(tree->root(), "", 0));
  return archive;
}

std::vector<TensorInfo> UntiedTensors(const TorchArchive& archive) {
  std::set<std::tuple<std::string, uint64_t, DType, std::vector<int64_t>>> seen;
  std::vector<TensorInfo> out;
  for (size_t i = 0; i < archive.tensors.size(); ++i) {
    const TensorInfo& t = archive.tensors[i];
    const TorchTensorView& v = archive.views[i];
    if (seen.emplace(v.storage, v.offset, t.dtype, t.shape).second) out.push_back(t);
  }
  return out;
}

}  // namespace modelgrid
