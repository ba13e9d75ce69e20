// Status and Result<T>: the one error type of ModelGrid.
//
// No exceptions cross a component boundary: functions that can fail return Status or
// Result<T>. Codes map to HTTP statuses at the server edge (see HttpStatusFor).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace modelgrid {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong (bad flag, malformed config)
  kNotFound,           // a file, model or key does not exist
  kCorruptData,        // a file lies about itself: truncated, bad offsets, bad magic
  kUnsupported,        // well-formed but not something ModelGrid handles
  kOutOfRange,         // a value is outside the limits ModelGrid accepts
  kResourceExhausted,  // a memory budget or capacity would be exceeded
  kUnavailable,        // temporarily cannot serve (not ready, worker restarting)
  kInternal,           // a bug or an OS failure
};

// Returns a short stable name such as "invalid argument".
const char* StatusCodeName(StatusCode code);

// The code StatusCodeName names, or kInternal for any other text (a peer's error code
// read back from a message).
StatusCode StatusCodeFromName(std::string_view name);

// The HTTP status that a server answers for this code (200 for kOk).
int HttpStatusFor(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status CorruptData(std::string m) { return {StatusCode::kCorruptData, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Either a value or a non-OK Status. Accessing value() of an error is a programmer error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace modelgrid

// Returns early from the enclosing function when `expr` (a Status) is not OK.
#define MG_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::modelgrid::Status mg_status_ = (expr); \
    if (!mg_status_.ok()) return mg_status_; \
  } while (0)

#define MG_CONCAT_INNER(a, b) a##b
#define MG_CONCAT(a, b) MG_CONCAT_INNER(a, b)
// `MG_ASSIGN_OR_RETURN(auto x, ResultExpr())`: binds the value or returns the error.
#define MG_ASSIGN_OR_RETURN(lhs, expr) \
  MG_ASSIGN_OR_RETURN_IMPL(MG_CONCAT(mg_result_, __LINE__), lhs, expr)
#define MG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
