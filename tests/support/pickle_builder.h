// Writes pickle opcodes by hand for tests, including the shapes torch.save produces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgrid::testing {

class PickleBuilder {
 public:
  PickleBuilder& Raw(std::string bytes) {
    out_ += bytes;
    return *this;
  }
  PickleBuilder& Op(uint8_t op) {
    out_.push_back(static_cast<char>(op));
    return *this;
  }
  PickleBuilder& Proto(uint8_t v = 2) { return Op(0x80).Op(v); }
  PickleBuilder& Mark() { return Op('('); }
  PickleBuilder& Stop() { return Op('.'); }
  PickleBuilder& None() { return Op('N'); }
  PickleBuilder& Bool(bool v) { return Op(v ? 0x88 : 0x89); }
  PickleBuilder& Int(int32_t v) {
    Op('J');
    Put(static_cast<uint32_t>(v), 4);
    return *this;
  }
  PickleBuilder& Str(const std::string& s) {
    Op('X');
    Put(s.size(), 4);
    out_ += s;
    return *this;
  }
  PickleBuilder& Global(const std::string& module, const std::string& name) {
    Op('c');
    out_ += module + "\n" + name + "\n";
    return *this;
  }
  PickleBuilder& EmptyTuple() { return Op(')'); }
  PickleBuilder& Tuple() { return Op('t'); }
  PickleBuilder& EmptyList() { return Op(']'); }
  PickleBuilder& Appends() { return Op('e'); }
  PickleBuilder& EmptyDict() { return Op('}'); }
  PickleBuilder& SetItem() { return Op('s'); }
  PickleBuilder& SetItems() { return Op('u'); }
  PickleBuilder& Reduce() { return Op('R'); }
  PickleBuilder& NewObj() { return Op(0x81); }
  PickleBuilder& Build() { return Op('b'); }
  PickleBuilder& PersId() { return Op('Q'); }
  PickleBuilder& Put(uint32_t index) {
    Op('r');
    Put(index, 4);
    return *this;
  }
  PickleBuilder& Get(uint32_t index) {
    Op('j');
    Put(index, 4);
    return *this;
  }
  PickleBuilder& IntTuple(const std::vector<int32_t>& values) {
    Mark();
    for (int32_t v : values) Int(v);
    return Tuple();
  }
  // torch._utils._rebuild_tensor_v2(persistent(('storage', torch.<cls>, key, 'cpu', numel)),
  // offset, size, stride, False, OrderedDict()) as torch.save writes it.
  PickleBuilder& Tensor(const std::string& storage_class, const std::string& key, int32_t numel,
                        const std::vector<int32_t>& shape, const std::vector<int32_t>& stride,
                        int32_t offset = 0) {
    Global("torch._utils", "_rebuild_tensor_v2");
    Mark();
    Mark().Str("storage").Global("torch", storage_class).Str(key).Str("cpu").Int(numel);
    Tuple().PersId();
    Int(offset).IntTuple(shape).IntTuple(stride).Bool(false);
    Global("collections", "OrderedDict").EmptyTuple().Reduce();
    return Tuple().Reduce();
  }
  // Starts an OrderedDict and its SETITEMS mark; close with EndDict().
  PickleBuilder& BeginOrderedDict() {
    return Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
  }
  PickleBuilder& EndDict() { return SetItems(); }

  const std::string& bytes() const { return out_; }

 private:
  void Put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string out_;
};

}  // namespace modelgrid::testing
