#include "server/infer_json.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace modelgrid::server {
namespace {

using nlohmann::json;

constexpr size_t kNone = std::string_view::npos;
constexpr int kMaxDataNesting = 64;  // EncodeJsonData's limit: deeper data stays with nlohmann
constexpr int kMaxSkipNesting = 512;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The end of the JSON number that starts at t[pos] (RFC 8259 grammar), or kNone.
size_t NumberEnd(std::string_view t, size_t pos) {
  size_t i = pos;
  auto digits = [&] {
    const size_t from = i;
    while (i < t.size() && IsDigit(t[i])) ++i;
    return i > from;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i >= t.size()) return kNone;
  if (t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return kNone;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return kNone;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return kNone;
  }
  return i;
}

// A number token as nlohmann stores it: unsigned or signed integer when it has no fraction
// or exponent and fits, else a double. Nothing when from_chars cannot say (out of range).
std::optional<json> NumberValue(std::string_view token) {
  const char* begin = token.data();
  const char* end = begin + token.size();
  if (token.find_first_of(".eE") == kNone) {
    if (token.front() == '-') {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(begin, end, v);
      if (ec == std::errc() && ptr == end) return json(v);
    } else {
      uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(begin, end, v);
      if (ec == std::errc() && ptr == end) return json(v);
    }
    // Too large for 64 bits: nlohmann reads it as a double too.
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(begin, end, d);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return json(d);
}

// The array of numbers (nested arrays allowed) that starts at t[pos] == '[': its value in
// `*out` and its end, or kNone when it holds anything else or is not valid JSON.
size_t LexDataArray(std::string_view t, size_t pos, json* out) {
  std::vector<json> open;  // the arrays not closed yet, innermost last
  bool want_value = true;  // after '[' or ','; false after a value
  bool may_close = false;  // right after '[' (an empty array) or after a value
  for (size_t i = pos; i < t.size();) {
    const char c = t[i];
    if (IsSpace(c)) {
      ++i;
    } else if (c == '[' && want_value) {
      if (static_cast<int>(open.size()) >= kMaxDataNesting) return kNone;
      open.push_back(json::array());
      may_close = true;
      ++i;
    } else if (c == ']' && may_close && !open.empty()) {
      json done = std::move(open.back());
      open.pop_back();
      ++i;
      if (open.empty()) {
        *out = std::move(done);
        return i;
      }
      open.back().push_back(std::move(done));
      want_value = false;
      may_close = true;
    } else if (c == ',' && !want_value) {
      want_value = true;
      may_close = false;
      ++i;
    } else if (want_value && (c == '-' || IsDigit(c)) && !open.empty()) {
      const size_t end = NumberEnd(t, i);
      if (end == kNone) return kNone;
      std::optional<json> value = NumberValue(t.substr(i, end - i));
      if (!value) return kNone;
      open.back().push_back(std::move(*value));
      want_value = false;
      may_close = true;
      i = end;
    } else {
      return kNone;
    }
  }
  return kNone;
}

// Walks the document's structure (not validating it: nlohmann does) to find the inputs'
// "data" arrays. Any surprise makes it give up, and the whole text goes to nlohmann.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : t_(text) {}

  // True when the text is an object whose structure was followed to its end.
  bool ScanRoot() {
    Ws();
    if (!Take('{')) return false;
    bool seen_inputs = false;
    return Members([&](std::string_view key) {
      if (key != "inputs") return SkipValue(0);
      if (seen_inputs) return false;  // a repeated key: nlohmann keeps the last
      seen_inputs = true;
      return At('[') ? ScanInputs() : SkipValue(0);
    });
  }

  struct Data {
    size_t begin = 0, end = 0;  // the array's text
    size_t input = 0;           // its index in "inputs"
    json value;
  };
  std::vector<Data>& found() { return found_; }

 private:
  bool ScanInputs() {
    ++i_;  // '['
    Ws();
    if (Take(']')) return true;
    for (size_t index = 0;; ++index) {
      Ws();
      if (!(At('{') ? ScanInput(index) : SkipValue(0))) return false;
      Ws();
      if (Take(']')) return true;
      if (!Take(',')) return false;
    }
  }

  bool ScanInput(size_t index) {
    ++i_;  // '{'
    bool seen_data = false;
    return Members([&](std::string_view key) {
      if (key != "data") return SkipValue(0);
      if (seen_data) return false;
      seen_data = true;
      if (!At('[')) return SkipValue(0);
      Data d;
      d.begin = i_;
      d.end = LexDataArray(t_, i_, &d.value);
      if (d.end == kNone) return SkipValue(0);  // not plain numbers: nlohmann's
      d.input = index;
      i_ = d.end;
      found_.push_back(std::move(d));
      return true;
    });
  }

  // The members of the object whose '{' was just taken, up to and with its '}': calls
  // `value(key)` at each value. Keys with escapes are a surprise.
  template <typename OnValue>
  bool Members(OnValue value) {
    Ws();
    if (Take('}')) return true;
    while (true) {
      Ws();
      const size_t key_begin = i_;
      if (!SkipString()) return false;
      const std::string_view key = t_.substr(key_begin + 1, i_ - key_begin - 2);
      if (key.find('\\') != kNone) return false;
      Ws();
      if (!Take(':')) return false;
      Ws();
      if (!value(key)) return false;
      Ws();
      if (Take('}')) return true;
      if (!Take(',')) return false;
    }
  }

  bool SkipValue(int depth) {
    if (depth > kMaxSkipNesting) return false;
    Ws();
    if (i_ >= t_.size()) return false;
    if (At('"')) return SkipString();
    if (Take('{')) {
      return Members([&](std::string_view) { return SkipValue(depth + 1); });
    }
    if (Take('[')) {
      Ws();
      if (Take(']')) return true;
      while (true) {
        if (!SkipValue(depth + 1)) return false;
        Ws();
        if (Take(']')) return true;
        if (!Take(',')) return false;
      }
    }
    // A number or a literal: up to the next delimiter.
    const size_t from = i_;
    while (i_ < t_.size() && !IsSpace(t_[i_]) && t_[i_] != ',' && t_[i_] != ']' && t_[i_] != '}') {
      ++i_;
    }
    return i_ > from;
  }

  bool SkipString() {
    if (!Take('"')) return false;
    while (i_ < t_.size()) {
      const char c = t_[i_++];
      if (c == '\\') {
        ++i_;
      } else if (c == '"') {
        return true;
      }
    }
    return false;
  }

  void Ws() {
    while (i_ < t_.size() && IsSpace(t_[i_])) ++i_;
  }
  bool At(char c) const { return i_ < t_.size() && t_[i_] == c; }
  bool Take(char c) {
    if (!At(c)) return false;
    ++i_;
    return true;
  }

  std::string_view t_;
  size_t i_ = 0;
  std::vector<Data> found_;
};

}  // namespace

json ParseInferJson(std::string_view text, bool* fast) {
  if (fast != nullptr) *fast = false;
  auto whole = [&] {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  };
  Scanner scanner(text);
  if (!scanner.ScanRoot() || scanner.found().empty()) return whole();
  // The text with "[]" for each array found, parsed by nlohmann, then the arrays put back.
  std::string rest;
  rest.reserve(text.size());
  size_t from = 0;
  for (const auto& d : scanner.found()) {
    rest.append(text.substr(from, d.begin - from));
    rest.append("[]");
    from = d.end;
  }
  rest.append(text.substr(from));
  json doc = json::parse(rest, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return whole();
  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array()) return whole();
  for (auto& d : scanner.found()) {
    if (d.input >= inputs->size() || !(*inputs)[d.input].is_object()) return whole();
    json& input = (*inputs)[d.input];
    auto data = input.find("data");
    if (data == input.end() || !data->is_array() || !data->empty()) return whole();
    *data = std::move(d.value);
  }
  if (fast != nullptr) *fast = true;
  return doc;
}

}  // namespace modelgrid::server
