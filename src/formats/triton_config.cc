// Protobuf text format, parsed in two steps: a tokenizer and a recursive-descent parser
// build a generic tree of fields (depth-limited, so hostile nesting cannot exhaust the
// stack), then the Triton fields ModelGrid needs are read out of the tree.
#include "formats/triton_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace modelgrid {

namespace {

constexpr size_t kMaxInputBytes = kMaxTritonConfigBytes;
constexpr int kMaxDepth = 64;
// The most elements one sample of a tensor may have: 2^32, 16 GiB of FP32, more than any
// GPU sample holds; larger dims are a typo (or an attack on whoever allocates the tensor).
constexpr int64_t kMaxTensorElements = int64_t{1} << 32;

enum class TokenKind { kIdentifier, kString, kNumber, kPunct, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // decoded contents for strings; the punctuation character for kPunct
  int line = 1;
};

Status SyntaxError(int line, const std::string& message) {
  return InvalidArgument("config.pbtxt line " + std::to_string(line) + ": " + message);
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Splits text into tokens. Adjacent string literals are concatenated, as protobuf does.
class Tokenizer {
 public:
  explicit Tokenizer(std::string_view text) : text_(text) {}

  // Reads the next token into `out`; at the end of input, out.kind is kEnd.
  Status Next(Token& out) {
    SkipSpaceAndComments();
    out = Token{};
    out.line = line_;
    if (pos_ >= text_.size()) return Status::Ok();
    const char c = text_[pos_];
    if (c == '"' || c == '\'') {
      out.kind = TokenKind::kString;
      MG_RETURN_IF_ERROR(ReadString(out.text));
      for (SkipSpaceAndComments();
           pos_ < text_.size() && (text_[pos_] == '"' || text_[pos_] == '\'');
           SkipSpaceAndComments()) {
        MG_RETURN_IF_ERROR(ReadString(out.text));
      }
      return Status::Ok();
    }
    if (IsIdentStart(c)) {
      out.kind = TokenKind::kIdentifier;
      size_t start = pos_;
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
      out.text = std::string(text_.substr(start, pos_ - start));
      return Status::Ok();
    }
    if (IsDigit(c) || c == '-' || c == '+' || c == '.') {
      out.kind = TokenKind::kNumber;
      size_t start = pos_++;
      while (pos_ < text_.size() && (IsIdentChar(text_[pos_]) || text_[pos_] == '.' ||
                                     ((text_[pos_] == '-' || text_[pos_] == '+') &&
                                      (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E')))) {
        ++pos_;
      }
      out.text = std::string(text_.substr(start, pos_ - start));
      if (out.text.size() == 1 && !IsDigit(c)) {
        return SyntaxError(line_, "stray '" + out.text + "'");
      }
      return Status::Ok();
    }
    static constexpr std::string_view kPunct = "{}[]<>:,;";
    if (kPunct.find(c) != std::string_view::npos) {
      out.kind = TokenKind::kPunct;
      out.text = std::string(1, c);
      ++pos_;
      return Status::Ok();
    }
    return SyntaxError(line_, "unexpected character '" + std::string(1, c) + "'");
  }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  // Appends the decoded quoted string at pos_ to `out`.
  Status ReadString(std::string& out) {
    const char quote = text_[pos_++];
    const int start_line = line_;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') {
        return SyntaxError(start_line, "unterminated string");
      }
      char c = text_[pos_++];
      if (c == quote) return Status::Ok();
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return SyntaxError(start_line, "unterminated string");
      c = text_[pos_++];
      switch (c) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case '\\':
        case '\'':
        case '"':
        case '?':
          out.push_back(c);
          break;
        case 'x': {
          int value = 0, digits = 0;
          while (digits < 2 && pos_ < text_.size() &&
                 std::isxdigit(static_cast<unsigned char>(text_[pos_]))) {
            const char h = text_[pos_++];
            value = value * 16 + (IsDigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
            ++digits;
          }
          if (digits == 0) return SyntaxError(line_, "\\x escape without hex digits");
          out.push_back(static_cast<char>(value));
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            int value = c - '0';
            for (int i = 0;
                 i < 2 && pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '7'; ++i) {
              value = value * 8 + (text_[pos_++] - '0');
            }
            out.push_back(static_cast<char>(value & 0xff));
            break;
          }
          return SyntaxError(line_, "unknown escape '\\" + std::string(1, c) + "' in string");
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
};

// The generic tree: a message is a list of fields; a field holds a scalar token, a nested
// message, or a bracketed list of scalars and messages.
struct Field;
struct Node {
  enum class Kind { kScalar, kMessage, kList } kind = Kind::kScalar;
  Token scalar;               // kScalar
  std::vector<Field> fields;  // kMessage
  std::vector<Node> items;    // kList
  int line = 1;
};
struct Field {
  std::string name;
  Node value;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : tokenizer_(text) {}

  Result<Node> ParseTop() {
    MG_RETURN_IF_ERROR(Advance());
    Node top;
    top.kind = Node::Kind::kMessage;
    MG_RETURN_IF_ERROR(ParseFields(top, /*close=*/"", /*depth=*/0));
    return top;
  }

 private:
  Status Advance() { return tokenizer_.Next(tok_); }
  bool IsPunct(std::string_view p) const {
    return tok_.kind == TokenKind::kPunct && tok_.text == p;
  }
  std::string Describe() const {
    if (tok_.kind == TokenKind::kEnd) return "end of input";
    if (tok_.kind == TokenKind::kString) return "a string";
    return "'" + tok_.text + "'";
  }

  // Parses fields into `msg` until `close` ("}" or ">"), or the end of input when empty.
  Status ParseFields(Node& msg, std::string_view close, int depth) {
    while (true) {
      if (tok_.kind == TokenKind::kEnd) {
        if (close.empty()) return Status::Ok();
        return SyntaxError(tok_.line, "missing '" + std::string(close) +
                                          "' for the block at line " + std::to_string(msg.line));
      }
      if (!close.empty() && IsPunct(close)) return Advance();
      if (tok_.kind != TokenKind::kIdentifier) {
        return SyntaxError(tok_.line, "expected a field name, found " + Describe());
      }
      Field field;
      field.name = std::move(tok_.text);
      field.value.line = tok_.line;
      MG_RETURN_IF_ERROR(Advance());
      const bool colon = IsPunct(":");
      if (colon) MG_RETURN_IF_ERROR(Advance());
      MG_RETURN_IF_ERROR(ParseValue(field.value, colon, depth, /*in_list=*/false));
      msg.fields.push_back(std::move(field));
      if (IsPunct(",") || IsPunct(";")) MG_RETURN_IF_ERROR(Advance());
    }
  }

  // Parses a value. Scalars need the preceding ':' (`had_colon`); blocks and lists do not.
  Status ParseValue(Node& node, bool had_colon, int depth, bool in_list) {
    node.line = tok_.line;
    if (IsPunct("{") || IsPunct("<")) {
      if (depth + 1 > kMaxDepth) {
        return SyntaxError(tok_.line, "nesting deeper than " + std::to_string(kMaxDepth));
      }
      const std::string close = IsPunct("{") ? "}" : ">";
      node.kind = Node::Kind::kMessage;
      MG_RETURN_IF_ERROR(Advance());
      return ParseFields(node, close, depth + 1);
    }
    if (IsPunct("[")) {
      if (in_list) return SyntaxError(tok_.line, "lists cannot nest");
      if (depth + 1 > kMaxDepth) {
        return SyntaxError(tok_.line, "nesting deeper than " + std::to_string(kMaxDepth));
      }
      node.kind = Node::Kind::kList;
      MG_RETURN_IF_ERROR(Advance());
      if (IsPunct("]")) return Advance();
      while (true) {
        Node item;
        MG_RETURN_IF_ERROR(ParseValue(item, /*had_colon=*/true, depth + 1, /*in_list=*/true));
        node.items.push_back(std::move(item));
        if (IsPunct("]")) return Advance();
        if (!IsPunct(",")) {
          return SyntaxError(tok_.line, "expected ',' or ']' in the list at line " +
                                            std::to_string(node.line) + ", found " + Describe());
        }
        MG_RETURN_IF_ERROR(Advance());
      }
    }
    if (tok_.kind == TokenKind::kString || tok_.kind == TokenKind::kNumber ||
        tok_.kind == TokenKind::kIdentifier) {
      if (!had_colon) return SyntaxError(tok_.line, "expected ':' before " + Describe());
      node.kind = Node::Kind::kScalar;
      node.scalar = std::move(tok_);
      return Advance();
    }
    return SyntaxError(tok_.line, "expected a value, found " + Describe());
  }

  Tokenizer tokenizer_;
  Token tok_;
};

// ---- Reading Triton fields out of the tree ----

Status FieldError(const Field& f, const std::string& what) {
  return SyntaxError(f.value.line, "field '" + f.name + "' " + what);
}

Result<std::string> GetString(const Field& f) {
  if (f.value.kind != Node::Kind::kScalar || f.value.scalar.kind != TokenKind::kString) {
    return FieldError(f, "expects a quoted string");
  }
  return f.value.scalar.text;
}

Result<std::string> GetEnum(const Field& f) {
  if (f.value.kind != Node::Kind::kScalar || f.value.scalar.kind != TokenKind::kIdentifier) {
    return FieldError(f, "expects an enum name such as TYPE_FP32");
  }
  return f.value.scalar.text;
}

Result<int64_t> ParseInt(const Node& node, const Field& f) {
  if (node.kind != Node::Kind::kScalar || node.scalar.kind != TokenKind::kNumber) {
    return FieldError(f, "expects an integer");
  }
  std::string_view t = node.scalar.text;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size()) {
    return FieldError(f, "expects an integer, found '" + node.scalar.text + "'");
  }
  return v;
}

Result<int64_t> GetInt(const Field& f) { return ParseInt(f.value, f); }

// `true` or `false` (protobuf text format also takes 1 and 0).
Result<bool> GetBool(const Field& f) {
  const std::string& text = f.value.scalar.text;
  if (f.value.kind == Node::Kind::kScalar && (text == "true" || text == "1")) return true;
  if (f.value.kind == Node::Kind::kScalar && (text == "false" || text == "0")) return false;
  return FieldError(f, "expects true or false");
}

// Appends the integers of `dims: [1, 2]` or of a repeated `dims: 1` to `out`.
Status AppendInts(const Field& f, std::vector<int64_t>& out) {
  if (f.value.kind == Node::Kind::kList) {
    for (const Node& item : f.value.items) {
      MG_ASSIGN_OR_RETURN(int64_t v, ParseInt(item, f));
      out.push_back(v);
    }
    return Status::Ok();
  }
  MG_ASSIGN_OR_RETURN(int64_t v, GetInt(f));
  out.push_back(v);
  return Status::Ok();
}

// Calls `fn(message_node)` for a `name { }` field or for each message of `name [ {}, {} ]`.
template <typename Fn>
Status ForEachMessage(const Field& f, Fn fn) {
  if (f.value.kind == Node::Kind::kMessage) return fn(f.value);
  if (f.value.kind == Node::Kind::kList) {
    for (const Node& item : f.value.items) {
      if (item.kind != Node::Kind::kMessage) return FieldError(f, "expects a list of { } blocks");
      MG_RETURN_IF_ERROR(fn(item));
    }
    return Status::Ok();
  }
  return FieldError(f, "expects a { } block");
}

Status ReadTensor(const Node& msg, TritonTensorConfig& t) {
  for (const Field& f : msg.fields) {
    if (f.name == "name") {
      MG_ASSIGN_OR_RETURN(t.name, GetString(f));
    } else if (f.name == "data_type") {
      MG_ASSIGN_OR_RETURN(t.data_type, GetEnum(f));
    } else if (f.name == "dims") {
      MG_RETURN_IF_ERROR(AppendInts(f, t.dims));
    } else if (f.name == "label_filename") {
      MG_ASSIGN_OR_RETURN(t.label_filename, GetString(f));
    }
    // format, reshape, optional, is_shape_tensor, allow_ragged_batch, ...: not needed.
  }
  int64_t elements = 1;
  for (int64_t d : t.dims) {
    if (d < -1) return SyntaxError(msg.line, "dims of '" + t.name + "' has " + std::to_string(d));
    if (d > 0 && elements > kMaxTensorElements / d) {
      return SyntaxError(msg.line, "dims of '" + t.name + "' make a tensor of more than " +
                                       std::to_string(kMaxTensorElements) + " elements");
    }
    if (d > 0) elements *= d;
  }
  return Status::Ok();
}

Status ReadInstanceGroup(const Node& msg, TritonModelConfig& config, bool& first) {
  int64_t count = 1;
  int64_t gpus = 0;
  std::string kind;
  for (const Field& f : msg.fields) {
    if (f.name == "count") {
      MG_ASSIGN_OR_RETURN(count, GetInt(f));
      if (count < 0 || count > (int64_t{1} << 20)) return FieldError(f, "is out of range");
    } else if (f.name == "kind") {
      MG_ASSIGN_OR_RETURN(kind, GetEnum(f));
    } else if (f.name == "gpus") {
      std::vector<int64_t> ids;
      MG_RETURN_IF_ERROR(AppendInts(f, ids));
      gpus += static_cast<int64_t>(ids.size());
    } else if (f.name == "host_policy") {
      // A model's instances share its device's workers: the policy is the device's.
      MG_ASSIGN_OR_RETURN(std::string policy, GetString(f));
      if (!policy.empty()) {
        return FieldError(f, "\"" + policy +
                                 "\" is not supported: ModelGrid binds the workers of a device, "
                                 "with modelgrid serve --host-policy cpu|gpu_<N>,SETTING=VALUE");
      }
    }
  }
  // `count` instances are made on each listed GPU, or without `gpus` on every GPU: each
  // device the model runs on gets every group's count.
  config.instances_per_device = first ? count : config.instances_per_device + count;
  config.instance_gpus = std::max(config.instance_gpus, gpus);
  if (config.instance_kind.empty()) config.instance_kind = kind;
  first = false;
  return Status::Ok();
}

Status ReadDynamicBatching(const Node& msg, TritonModelConfig& config) {
  config.dynamic_batching = true;
  for (const Field& f : msg.fields) {
    if (f.name == "preferred_batch_size") {
      MG_RETURN_IF_ERROR(AppendInts(f, config.preferred_batch_sizes));
    } else if (f.name == "max_queue_delay_microseconds") {
      MG_ASSIGN_OR_RETURN(config.max_queue_delay_microseconds, GetInt(f));
      if (config.max_queue_delay_microseconds < 0) return FieldError(f, "is negative");
    }
  }
  return Status::Ok();
}

// `parameters { key: "k" value: { string_value: "v" } }`.
Status ReadParameter(const Node& msg, TritonModelConfig& config) {
  std::optional<std::string> key;
  std::string value;
  for (const Field& f : msg.fields) {
    if (f.name == "key") {
      MG_ASSIGN_OR_RETURN(key, GetString(f));
    } else if (f.name == "value") {
      if (f.value.kind != Node::Kind::kMessage) return FieldError(f, "expects a { } block");
      for (const Field& v : f.value.fields) {
        if (v.name == "string_value") {
          MG_ASSIGN_OR_RETURN(value, GetString(v));
        }
      }
    }
  }
  if (!key) return SyntaxError(msg.line, "parameters entry without a key");
  config.parameters[*key] = value;
  return Status::Ok();
}

Status ReadTop(const Node& top, TritonModelConfig& config) {
  bool first_group = true;
  for (const Field& f : top.fields) {
    if (f.name == "name") {
      MG_ASSIGN_OR_RETURN(config.name, GetString(f));
    } else if (f.name == "platform") {
      MG_ASSIGN_OR_RETURN(config.platform, GetString(f));
    } else if (f.name == "backend") {
      MG_ASSIGN_OR_RETURN(config.backend, GetString(f));
    } else if (f.name == "max_batch_size") {
      MG_ASSIGN_OR_RETURN(config.max_batch_size, GetInt(f));
      if (config.max_batch_size < 0) return FieldError(f, "must not be negative");
    } else if (f.name == "input" || f.name == "output") {
      auto& list = f.name == "input" ? config.inputs : config.outputs;
      MG_RETURN_IF_ERROR(ForEachMessage(f, [&](const Node& msg) {
        TritonTensorConfig t;
        MG_RETURN_IF_ERROR(ReadTensor(msg, t));
        list.push_back(std::move(t));
        return Status::Ok();
      }));
    } else if (f.name == "instance_group") {
      MG_RETURN_IF_ERROR(ForEachMessage(
          f, [&](const Node& msg) { return ReadInstanceGroup(msg, config, first_group); }));
    } else if (f.name == "dynamic_batching") {
      MG_RETURN_IF_ERROR(
          ForEachMessage(f, [&](const Node& msg) { return ReadDynamicBatching(msg, config); }));
    } else if (f.name == "parameters") {
      MG_RETURN_IF_ERROR(
          ForEachMessage(f, [&](const Node& msg) { return ReadParameter(msg, config); }));
    } else if (f.name == "model_transaction_policy") {
      MG_RETURN_IF_ERROR(ForEachMessage(f, [&](const Node& msg) {
        for (const Field& p : msg.fields) {
          if (p.name == "decoupled") {
            MG_ASSIGN_OR_RETURN(config.decoupled, GetBool(p));
          }
        }
        return Status::Ok();
      }));
    } else if (std::find(config.ignored_fields.begin(), config.ignored_fields.end(), f.name) ==
               config.ignored_fields.end()) {
      config.ignored_fields.push_back(f.name);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<TritonModelConfig> ParseTritonConfig(std::string_view text) {
  if (text.size() > kMaxInputBytes) {
    return InvalidArgument("config.pbtxt is " + std::to_string(text.size()) +
                           " bytes, more than the 1 MiB limit");
  }
  Parser parser(text);
  MG_ASSIGN_OR_RETURN(Node top, parser.ParseTop());
  TritonModelConfig config;
  MG_RETURN_IF_ERROR(ReadTop(top, config));
  return config;
}

}  // namespace modelgrid
