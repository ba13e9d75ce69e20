// A restricted pickle reader that executes nothing.
//
// Understands the protocol 2-5 opcodes that torch.save and torch.jit.save write and builds
// a tree of values instead of running code: GLOBAL becomes a symbolic kGlobal node,
// REDUCE/NEWOBJ a kCall node, BINPERSID a kPersistent node, and BUILD/SETITEM(S)/APPEND(S)
// attach state and items to the object they apply to. Memoised values are shared, never
// copied, so the tree is a graph whose size is linear in the input; it may even contain
// cycles (a list appended to itself), so walkers must bound their depth and visits.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelgrid {

enum class PickleKind : uint8_t {
  kNone,
  kBool,
  kInt,     // fits in int64
  kBigInt,  // a LONG1/LONG4 that does not fit in int64 (value not kept)
  kFloat,
  kString,  // unicode text, UTF-8 as stored
  kBytes,   // BINSTRING / BINBYTES / BYTEARRAY8
  kTuple,
  kList,
  kDict,
  kGlobal,      // module in `text`, name in `name`
  kCall,        // callee(args): REDUCE or NEWOBJ
  kPersistent,  // persistent id (BINPERSID): `args` is the pid
};

// One value. Nodes are owned by their PickleTree; pointers borrow from it.
struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  bool bool_value = false;
  int64_t int_value = 0;
  double float_value = 0;
  std::string text;  // kString, kBytes; kGlobal: the module
  std::string name;  // kGlobal: the attribute name
  // kTuple/kList elements; for kCall, items added by APPEND(S).
  std::vector<const PickleValue*> items;
  // kDict entries; for kCall, entries added by SETITEM(S) (an OrderedDict, say).
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;
  const PickleValue* callee = nullptr;  // kCall: usually a kGlobal
  const PickleValue* args = nullptr;    // kCall: the argument tuple; kPersistent: the pid
  const PickleValue* state = nullptr;   // BUILD state, for any kind (last BUILD wins)

  bool is_string() const { return kind == PickleKind::kString; }
  bool is_int() const { return kind == PickleKind::kInt; }
  bool is_sequence() const { return kind == PickleKind::kTuple || kind == PickleKind::kList; }
  // True for a kGlobal named `module`.`global_name`.
  bool IsGlobal(std::string_view module, std::string_view global_name) const {
    return kind == PickleKind::kGlobal && text == module && name == global_name;
  }
  // For a kCall whose callee is a kGlobal: that global, else nullptr.
  const PickleValue* CalleeGlobal() const {
    return kind == PickleKind::kCall && callee && callee->kind == PickleKind::kGlobal ? callee
                                                                                      : nullptr;
  }
};

struct PickleLimits {
  uint64_t max_stack_items = uint64_t{1} << 20;   // values on the stack, marks included
  uint64_t max_memo_items = uint64_t{1} << 20;    // memo slots
  uint64_t max_nodes = uint64_t{1} << 22;         // values created in all
  uint64_t max_string_bytes = uint64_t{1} << 30;  // one string or bytes value
};

// The result of parsing: owns every node. Movable, not copyable; node addresses are
// stable for the tree's lifetime (moves included).
class PickleTree {
 public:
  PickleTree() = default;
  PickleTree(PickleTree&&) = default;
  PickleTree& operator=(PickleTree&&) = default;
  PickleTree(const PickleTree&) = delete;
  PickleTree& operator=(const PickleTree&) = delete;

  // The value STOP returned.
  const PickleValue* root() const { return root_; }
  // Every node ever created, in creation order (to scan for all kPersistent ids, say).
  const std::deque<PickleValue>& nodes() const { return nodes_; }

 private:
  friend class PickleParser;
  std::deque<PickleValue> nodes_;
  const PickleValue* root_ = nullptr;
};

// Parses one pickle from `bytes` (up to and including STOP; trailing bytes are ignored).
// Fails with kCorruptData on truncation, an unknown or unsafe opcode (INST, OBJ, EXT*,
// the text protocol's opcodes), stack underflow, a missing MARK, a memo index that was
// never stored, or an opcode applied to the wrong kind of value; kResourceExhausted when a
// limit is exceeded. Pure; thread-safe.
Result<PickleTree> ParsePickle(std::string_view bytes, const PickleLimits& limits = {});

// A short human-readable rendering for tests and error messages, e.g.
// "call(global(torch._utils._rebuild_tensor_v2), (persistent(('storage', ...)), 0, ...))".
// Stops at `max_depth` levels ("...") and after about `max_chars` characters.
std::string PickleDebugString(const PickleValue* value, int max_depth = 6, size_t max_chars = 2000);

}  // namespace modelgrid
