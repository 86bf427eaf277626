#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace mp::op {

// Why an operation failed, carried as a value across module boundaries instead of an exception.
// httpStatus is 0 when no HTTP answer came back (connection refused, timeout, parse error).
struct Error {
  int httpStatus = 0;
  std::string reason;   // short machine-readable cause, e.g. "Conflict", "Unreachable"
  std::string message;  // human sentence for logs, conditions and Events
};

// Either a value or an Error; the small subset of std::expected that C++17 lacks.
// Thread-safety: a plain value type, no shared state.
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const Error& error() const { return std::get<Error>(data_); }

 private:
  std::variant<T, Error> data_;
};

// Success or an Error, for operations that return nothing.
struct Done {};
using Status = Result<Done>;
inline Status okStatus() {
  return Done{};
}

}  // namespace mp::op
