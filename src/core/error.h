// One error policy for the whole library:
//   * library code throws lmd::Error whose message names the file / field / value at fault;
//   * the CLI prints what() on one line and exits non-zero;
//   * the server maps lmd::Error with a client Kind to 4xx, everything else to 5xx.
// LMD_CHECK(cond) << "context " << value;   throws lmd::Error when cond is false.
// LMD_FAIL() << "message";                  throws unconditionally (in a function that
//                                            returns a value, prefer `throw lmd::Error(...)`
//                                            so the compiler sees the function end).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lmd {

class Error : public std::runtime_error {
 public:
  // kInvalidArgument: the caller's input (a flag, a request field, a file) is wrong.
  // kNotFound: a named thing (file, model, session) does not exist.
  // kUnsupported: valid input we do not handle (an architecture, a quant type).
  // kResourceExhausted: out of KV blocks / queue full.
  // kInternal: our bug.
  enum class Kind { kInvalidArgument, kNotFound, kUnsupported, kResourceExhausted, kInternal };

  explicit Error(const std::string& msg, Kind kind = Kind::kInvalidArgument)
      : std::runtime_error(msg), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

namespace detail {

// Collects a message with operator<< and throws it when the full expression ends.
class ErrorBuilder {
 public:
  ErrorBuilder(Error::Kind kind, const char* condition) : kind_(kind) {
    if (condition) stream_ << "check failed: " << condition << ": ";
  }
  template <typename T>
  ErrorBuilder& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }
  [[noreturn]] void raise() { throw Error(stream_.str(), kind_); }
  ~ErrorBuilder() noexcept(false) {
    if (!std::uncaught_exceptions()) throw Error(stream_.str(), kind_);
  }

 private:
  Error::Kind kind_;
  std::ostringstream stream_;
};

}  // namespace detail
}  // namespace lmd

// Invariant checks whose message is built with <<. The message is the whole text the
// user sees, so say which file / field / value is wrong.
#define LMD_CHECK(cond) \
  if (cond) {           \
  } else                \
    ::lmd::detail::ErrorBuilder(::lmd::Error::Kind::kInvalidArgument, nullptr)
#define LMD_CHECK_KIND(cond, kind) \
  if (cond) {                      \
  } else                           \
    ::lmd::detail::ErrorBuilder(::lmd::Error::Kind::kind, nullptr)
#define LMD_FAIL() ::lmd::detail::ErrorBuilder(::lmd::Error::Kind::kInvalidArgument, nullptr)
#define LMD_FAIL_KIND(kind) ::lmd::detail::ErrorBuilder(::lmd::Error::Kind::kind, nullptr)
