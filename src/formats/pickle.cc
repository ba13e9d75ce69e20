#include "formats/pickle.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <unordered_map>

namespace modelgrid {

// Runs the pickle machine over the input. One instance per parse.
class PickleParser {
 public:
  PickleParser(std::string_view bytes, const PickleLimits& limits) : in_(bytes), limits_(limits) {}

  Result<PickleTree> Run();

 private:
  Status Step(uint8_t op, bool* stop);
  Status Error(const std::string& what) const {
    return CorruptData("pickle: " + what + " (opcode at offset " + std::to_string(op_pos_) + ")");
  }

  // Input.
  Status Need(uint64_t n) const {
    if (in_.size() - pos_ < n) return Error("truncated input");
    return Status::Ok();
  }
  Result<uint64_t> ReadLe(int n) {
    MG_RETURN_IF_ERROR(Need(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
    pos_ += n;
    return v;
  }
  Result<std::string_view> ReadBytes(uint64_t n) {
    if (n > limits_.max_string_bytes) return Error("string of " + std::to_string(n) + " bytes");
    MG_RETURN_IF_ERROR(Need(n));
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  Result<std::string_view> ReadLine() {
    size_t nl = in_.find('\n', pos_);
    if (nl == std::string_view::npos) return Error("unterminated GLOBAL line");
    std::string_view s = in_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return s;
  }

  // Values.
  Result<PickleValue*> New(PickleKind kind) {
    if (tree_.nodes_.size() >= limits_.max_nodes) {
      return ResourceExhausted("pickle: more than " + std::to_string(limits_.max_nodes) +
                               " values");
    }
    PickleValue& v = tree_.nodes_.emplace_back();
    v.kind = kind;
    return &v;
  }
  Status Push(PickleValue* v) {
    if (stack_.size() + marks_.size() >= limits_.max_stack_items) {
      return ResourceExhausted("pickle: stack deeper than " +
                               std::to_string(limits_.max_stack_items));
    }
    stack_.push_back(v);
    return Status::Ok();
  }
  Status PushNew(PickleKind kind, PickleValue** out = nullptr) {
    MG_ASSIGN_OR_RETURN(PickleValue * v, New(kind));
    if (out) *out = v;
    return Push(v);
  }
  Result<PickleValue*> Pop() {
    if (stack_.size() <= MarkFloor()) return Error("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Result<PickleValue*> Top() {
    if (stack_.size() <= MarkFloor()) return Error("stack underflow");
    return stack_.back();
  }
  size_t MarkFloor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops the topmost MARK and returns the stack position it pointed at.
  Result<size_t> PopMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    return m;
  }
  Status Memoize(uint64_t index, PickleValue* v) {
    if (memo_.size() >= limits_.max_memo_items && !memo_.count(index)) {
      return ResourceExhausted("pickle: more than " + std::to_string(limits_.max_memo_items) +
                               " memo entries");
    }
    memo_[index] = v;
    return Status::Ok();
  }
  Status MemoGet(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return Error("memo index " + std::to_string(index) + " never stored");
    return Push(it->second);
  }

  Status PushInt(int64_t v) {
    PickleValue* n = nullptr;
    MG_RETURN_IF_ERROR(PushNew(PickleKind::kInt, &n));
    n->int_value = v;
    return Status::Ok();
  }
  Status PushLong(std::string_view bytes);
  Status PushText(PickleKind kind, uint64_t length) {
    MG_ASSIGN_OR_RETURN(std::string_view s, ReadBytes(length));
    PickleValue* n = nullptr;
    MG_RETURN_IF_ERROR(PushNew(kind, &n));
    n->text.assign(s);
    return Status::Ok();
  }
  Status PushGlobal(std::string_view module, std::string_view name) {
    PickleValue* n = nullptr;
    MG_RETURN_IF_ERROR(PushNew(PickleKind::kGlobal, &n));
    n->text.assign(module);
    n->name.assign(name);
    return Status::Ok();
  }
  // Builds a tuple of the top `count` values, or of everything above the MARK when
  // count < 0.
  Status MakeTuple(int count, PickleKind kind = PickleKind::kTuple);
  Status Call(PickleValue* callee, PickleValue* args) {
    PickleValue* n = nullptr;
    MG_RETURN_IF_ERROR(PushNew(PickleKind::kCall, &n));
    n->callee = callee;
    n->args = args;
    return Status::Ok();
  }
  Status AddItems(size_t from);    // APPEND(S): stack[from..] into stack[from-1]
  Status AddEntries(size_t from);  // SETITEM(S): pairs from stack[from..] into stack[from-1]

  std::string_view in_;
  PickleLimits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  PickleTree tree_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

Status PickleParser::PushLong(std::string_view bytes) {
  PickleValue* n = nullptr;
  const size_t len = bytes.size();
  auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  bool fits = true;
  if (len > 8) {
    const uint8_t fill = (byte(7) & 0x80) ? 0xFF : 0x00;
    for (size_t i = 8; i < len; ++i) fits = fits && byte(i) == fill;
  }
  if (!fits) return PushNew(PickleKind::kBigInt);
  uint64_t v = 0;
  const size_t used = len < 8 ? len : 8;
  for (size_t i = 0; i < used; ++i) v |= uint64_t{byte(i)} << (8 * i);
  if (used > 0 && used < 8 && (byte(used - 1) & 0x80)) v |= ~uint64_t{0} << (8 * used);
  MG_RETURN_IF_ERROR(PushNew(PickleKind::kInt, &n));
  n->int_value = static_cast<int64_t>(v);
  return Status::Ok();
}

Status PickleParser::MakeTuple(int count, PickleKind kind) {
  size_t from;
  if (count < 0) {
    MG_ASSIGN_OR_RETURN(from, PopMark());
  } else {
    if (stack_.size() - MarkFloor() < static_cast<size_t>(count)) return Error("stack underflow");
    from = stack_.size() - count;
  }
  MG_ASSIGN_OR_RETURN(PickleValue * t, New(kind));
  t->items.assign(stack_.begin() + from, stack_.end());
  stack_.resize(from);
  return Push(t);
}

Status PickleParser::AddItems(size_t from) {
  if (from == 0 || from - 1 < MarkFloor()) return Error("stack underflow");
  PickleValue* target = stack_[from - 1];
  if (target->kind != PickleKind::kList && target->kind != PickleKind::kCall) {
    return Error("APPEND to a value that is not a list or object");
  }
  target->items.insert(target->items.end(), stack_.begin() + from, stack_.end());
  stack_.resize(from);
  return Status::Ok();
}

Status PickleParser::AddEntries(size_t from) {
  if (from == 0 || from - 1 < MarkFloor()) return Error("stack underflow");
  if ((stack_.size() - from) % 2 != 0) return Error("SETITEMS with an odd number of values");
  PickleValue* target = stack_[from - 1];
  if (target->kind != PickleKind::kDict && target->kind != PickleKind::kCall) {
    return Error("SETITEM on a value that is not a dict or object");
  }
  for (size_t i = from; i < stack_.size(); i += 2) {
    target->entries.emplace_back(stack_[i], stack_[i + 1]);
  }
  stack_.resize(from);
  return Status::Ok();
}

Status PickleParser::Step(uint8_t op, bool* stop) {
  switch (op) {
    case 0x80: {  // PROTO
      MG_ASSIGN_OR_RETURN(uint64_t proto, ReadLe(1));
      if (proto > 5) return Error("unsupported protocol " + std::to_string(proto));
      return Status::Ok();
    }
    case 0x95:  // FRAME: a length hint only
      return ReadLe(8).status();
    case '(':  // MARK
      if (stack_.size() + marks_.size() >= limits_.max_stack_items) {
        return ResourceExhausted("pickle: too many MARKs");
      }
      marks_.push_back(stack_.size());
      return Status::Ok();
    case '.': {  // STOP
      MG_ASSIGN_OR_RETURN(PickleValue * root, Pop());
      tree_.root_ = root;
      *stop = true;
      return Status::Ok();
    }
    case '0':  // POP
      return Pop().status();
    case '1':  // POP_MARK
    {
      MG_ASSIGN_OR_RETURN(size_t from, PopMark());
      stack_.resize(from);
      return Status::Ok();
    }
    case '2': {  // DUP
      MG_ASSIGN_OR_RETURN(PickleValue * v, Top());
      return Push(v);
    }
    case 'N':
      return PushNew(PickleKind::kNone);
    case 0x88:
    case 0x89: {  // NEWTRUE, NEWFALSE
      PickleValue* n = nullptr;
      MG_RETURN_IF_ERROR(PushNew(PickleKind::kBool, &n));
      n->bool_value = op == 0x88;
      return Status::Ok();
    }
    case 'K': {  // BININT1
      MG_ASSIGN_OR_RETURN(uint64_t v, ReadLe(1));
      return PushInt(static_cast<int64_t>(v));
    }
    case 'M': {  // BININT2
      MG_ASSIGN_OR_RETURN(uint64_t v, ReadLe(2));
      return PushInt(static_cast<int64_t>(v));
    }
    case 'J': {  // BININT: signed 32-bit
      MG_ASSIGN_OR_RETURN(uint64_t v, ReadLe(4));
      return PushInt(static_cast<int32_t>(static_cast<uint32_t>(v)));
    }
    case 0x8a:    // LONG1
    case 0x8b: {  // LONG4
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(op == 0x8a ? 1 : 4));
      MG_ASSIGN_OR_RETURN(std::string_view bytes, ReadBytes(len));
      return PushLong(bytes);
    }
    case 'G': {  // BINFLOAT: big-endian double
      MG_ASSIGN_OR_RETURN(std::string_view b, ReadBytes(8));
      uint64_t bits = 0;
      for (char c : b) bits = (bits << 8) | static_cast<uint8_t>(c);
      PickleValue* n = nullptr;
      MG_RETURN_IF_ERROR(PushNew(PickleKind::kFloat, &n));
      n->float_value = std::bit_cast<double>(bits);
      return Status::Ok();
    }
    case 0x8c: {  // SHORT_BINUNICODE
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(1));
      return PushText(PickleKind::kString, len);
    }
    case 'X': {  // BINUNICODE
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(4));
      return PushText(PickleKind::kString, len);
    }
    case 0x8d: {  // BINUNICODE8
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(8));
      return PushText(PickleKind::kString, len);
    }
    case 'U':    // SHORT_BINSTRING
    case 'C': {  // SHORT_BINBYTES
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(1));
      return PushText(PickleKind::kBytes, len);
    }
    case 'T': {  // BINSTRING: signed 32-bit length
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(4));
      if (len & 0x80000000u) return Error("negative BINSTRING length");
      return PushText(PickleKind::kBytes, len);
    }
    case 'B': {  // BINBYTES
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(4));
      return PushText(PickleKind::kBytes, len);
    }
    case 0x8e:    // BINBYTES8
    case 0x96: {  // BYTEARRAY8
      MG_ASSIGN_OR_RETURN(uint64_t len, ReadLe(8));
      return PushText(PickleKind::kBytes, len);
    }
    case ')':
      return MakeTuple(0);
    case 0x85:
      return MakeTuple(1);
    case 0x86:
      return MakeTuple(2);
    case 0x87:
      return MakeTuple(3);
    case 't':
      return MakeTuple(-1);
    case ']':
      return PushNew(PickleKind::kList);
    case 'l':  // LIST: from MARK
      return MakeTuple(-1, PickleKind::kList);
    case '}':
      return PushNew(PickleKind::kDict);
    case 'd': {  // DICT: pairs from MARK
      MG_ASSIGN_OR_RETURN(size_t from, PopMark());
      if ((stack_.size() - from) % 2 != 0) return Error("DICT with an odd number of values");
      MG_ASSIGN_OR_RETURN(PickleValue * dict, New(PickleKind::kDict));
      for (size_t i = from; i < stack_.size(); i += 2) {
        dict->entries.emplace_back(stack_[i], stack_[i + 1]);
      }
      stack_.resize(from);
      return Push(dict);
    }
    case 'a':  // APPEND
      if (stack_.size() < 2) return Error("stack underflow");
      return AddItems(stack_.size() - 1);
    case 'e': {  // APPENDS
      MG_ASSIGN_OR_RETURN(size_t from, PopMark());
      return AddItems(from);
    }
    case 's':  // SETITEM
      if (stack_.size() < 3) return Error("stack underflow");
      return AddEntries(stack_.size() - 2);
    case 'u': {  // SETITEMS
      MG_ASSIGN_OR_RETURN(size_t from, PopMark());
      return AddEntries(from);
    }
    case 'q': {  // BINPUT
      MG_ASSIGN_OR_RETURN(uint64_t i, ReadLe(1));
      MG_ASSIGN_OR_RETURN(PickleValue * v, Top());
      return Memoize(i, v);
    }
    case 'r': {  // LONG_BINPUT
      MG_ASSIGN_OR_RETURN(uint64_t i, ReadLe(4));
      MG_ASSIGN_OR_RETURN(PickleValue * v, Top());
      return Memoize(i, v);
    }
    case 0x94: {  // MEMOIZE
      MG_ASSIGN_OR_RETURN(PickleValue * v, Top());
      return Memoize(memo_.size(), v);
    }
    case 'h': {  // BINGET
      MG_ASSIGN_OR_RETURN(uint64_t i, ReadLe(1));
      return MemoGet(i);
    }
    case 'j': {  // LONG_BINGET
      MG_ASSIGN_OR_RETURN(uint64_t i, ReadLe(4));
      return MemoGet(i);
    }
    case 'c': {  // GLOBAL: "module\nname\n"
      MG_ASSIGN_OR_RETURN(std::string_view module, ReadLine());
      MG_ASSIGN_OR_RETURN(std::string_view name, ReadLine());
      return PushGlobal(module, name);
    }
    case 0x93: {  // STACK_GLOBAL
      MG_ASSIGN_OR_RETURN(PickleValue * name, Pop());
      MG_ASSIGN_OR_RETURN(PickleValue * module, Pop());
      if (!name->is_string() || !module->is_string()) {
        return Error("STACK_GLOBAL of non-string values");
      }
      return PushGlobal(module->text, name->text);
    }
    case 'R':     // REDUCE
    case 0x81: {  // NEWOBJ
      MG_ASSIGN_OR_RETURN(PickleValue * args, Pop());
      MG_ASSIGN_OR_RETURN(PickleValue * callee, Pop());
      return Call(callee, args);
    }
    case 0x92: {  // NEWOBJ_EX: keyword arguments are dropped
      MG_RETURN_IF_ERROR(Pop().status());
      MG_ASSIGN_OR_RETURN(PickleValue * args, Pop());
      MG_ASSIGN_OR_RETURN(PickleValue * callee, Pop());
      return Call(callee, args);
    }
    case 'b': {  // BUILD
      MG_ASSIGN_OR_RETURN(PickleValue * state, Pop());
      MG_ASSIGN_OR_RETURN(PickleValue * object, Top());
      object->state = state;
      return Status::Ok();
    }
    case 'Q': {  // BINPERSID
      MG_ASSIGN_OR_RETURN(PickleValue * pid, Pop());
      PickleValue* n = nullptr;
      MG_RETURN_IF_ERROR(PushNew(PickleKind::kPersistent, &n));
      n->args = pid;
      return Status::Ok();
    }
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      return Error(std::string("unknown or unsupported opcode ") + hex);
    }
  }
}

Result<PickleTree> PickleParser::Run() {
  bool stop = false;
  while (!stop) {
    op_pos_ = pos_;
    if (pos_ >= in_.size()) return Error("truncated input: no STOP");
    uint8_t op = static_cast<uint8_t>(in_[pos_++]);
    MG_RETURN_IF_ERROR(Step(op, &stop));
  }
  return std::move(tree_);
}

Result<PickleTree> ParsePickle(std::string_view bytes, const PickleLimits& limits) {
  PickleParser parser(bytes, limits);
  return parser.Run();
}

namespace {

void Render(const PickleValue* v, int depth, size_t max_chars, std::string* out) {
  if (out->size() > max_chars) return;
  if (!v) {
    *out += "null";
    return;
  }
  if (depth <= 0) {
    *out += "...";
    return;
  }
  auto list = [&](const std::vector<const PickleValue*>& items, const char* open,
                  const char* close) {
    *out += open;
    for (size_t i = 0; i < items.size() && out->size() <= max_chars; ++i) {
      if (i) *out += ", ";
      Render(items[i], depth - 1, max_chars, out);
    }
    *out += close;
  };
  switch (v->kind) {
    case PickleKind::kNone:
      *out += "None";
      break;
    case PickleKind::kBool:
      *out += v->bool_value ? "True" : "False";
      break;
    case PickleKind::kInt:
      *out += std::to_string(v->int_value);
      break;
    case PickleKind::kBigInt:
      *out += "<bigint>";
      break;
    case PickleKind::kFloat:
      *out += std::to_string(v->float_value);
      break;
    case PickleKind::kString:
      *out += "'" + v->text + "'";
      break;
    case PickleKind::kBytes:
      *out += "b<" + std::to_string(v->text.size()) + " bytes>";
      break;
    case PickleKind::kTuple:
      list(v->items, "(", ")");
      break;
    case PickleKind::kList:
      list(v->items, "[", "]");
      break;
    case PickleKind::kGlobal:
      *out += "global(" + v->text + "." + v->name + ")";
      break;
    case PickleKind::kPersistent:
      *out += "persistent(";
      Render(v->args, depth - 1, max_chars, out);
      *out += ")";
      break;
    case PickleKind::kCall:
      *out += "call(";
      Render(v->callee, depth - 1, max_chars, out);
      *out += ", ";
      Render(v->args, depth - 1, max_chars, out);
      *out += ")";
      break;
    case PickleKind::kDict:
      break;
  }
  if (!v->entries.empty() || v->kind == PickleKind::kDict) {
    *out += "{";
    for (size_t i = 0; i < v->entries.size() && out->size() <= max_chars; ++i) {
      if (i) *out += ", ";
      Render(v->entries[i].first, depth - 1, max_chars, out);
      *out += ": ";
      Render(v->entries[i].second, depth - 1, max_chars, out);
    }
    *out += "}";
  }
  if (v->kind == PickleKind::kCall && !v->items.empty()) list(v->items, "[", "]");
  if (v->state) {
    *out += ".build(";
    Render(v->state, depth - 1, max_chars, out);
    *out += ")";
  }
}

}  // namespace

std::string PickleDebugString(const PickleValue* value, int max_depth, size_t max_chars) {
  std::string out;
  Render(value, max_depth, max_chars, &out);
  if (out.size() > max_chars) {
    out.resize(max_chars);
    out += "...";
  }
  return out;
}

}  // namespace modelgrid
