#pragma once

#include <cassert>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace mp {

// The canonical reasons an operation fails; callers branch on these, never on message text.
enum class Code {
  kOk,
  kInvalidArgument,  // the input can never succeed as given (bad URL, malformed message)
  kNotFound,         // what was asked for does not exist
  kConflict,         // it exists in another state than the caller assumed (redeclared with other arguments)
  kUnavailable,      // no usable answer now (connection lost, timeout): retry, on a fresh connection
  kInternal,         // anything else: the other side answered, but not as it should
};

// Success, or a failure's code and a sentence for logs; the one error type across every API of the
// services and the operator (after LevelDB's and Abseil's Status). A plain value, safe to copy between
// threads; errors are returned, never thrown across a module boundary.
class Status {
 public:
  Status() = default;  // ok

  static Status invalidArgument(std::string message) { return {Code::kInvalidArgument, std::move(message)}; }
  static Status notFound(std::string message) { return {Code::kNotFound, std::move(message)}; }
  static Status conflict(std::string message) { return {Code::kConflict, std::move(message)}; }
  static Status unavailable(std::string message) { return {Code::kUnavailable, std::move(message)}; }
  static Status internal(std::string message) { return {Code::kInternal, std::move(message)}; }

  // A failed HTTP answer (or a 2xx that could not be used), with the server's `reason`; on a server's
  // side, the answer to give (http::Response::error(status), `reason` its error code). Its code: 400, 411,
  // 413, 415, 422 and 431 (the request as sent can never be served) invalid argument; 404 and 410 (Gone: the
  // version asked for no longer exists) not found; 409 conflict; 429, 502, 503 and 504 unavailable (retry
  // later); anything else internal.
  static Status fromHttp(int httpStatus, std::string reason, std::string message) {
    Status status(codeForHttpStatus(httpStatus), std::move(message));
    status.httpStatus_ = httpStatus;
    status.reason_ = std::move(reason);
    return status;
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Detail for the branches and reports one code does not serve: the HTTP status of the answer the
  // failure came from (0 when none came back: refused, timeout, or an error of our own; e.g. 410 means
  // re-list, 429 an eviction the disruption budget refused), and a short CamelCase cause for
  // Kubernetes conditions and Events ("Conflict", "PrometheusUnreachable"; empty when not given).
  int httpStatus() const { return httpStatus_; }
  const std::string& reason() const { return reason_; }
  // The one input field an invalid argument is about (a request body's member, a query parameter:
  // "title"); empty when it is not about one field.
  const std::string& field() const { return field_; }
  // How long the caller should wait before it tries again (0: not said); a server answers it as
  // Retry-After (a rate limit's refusal).
  std::chrono::seconds retryAfter() const { return retryAfter_; }

  // The same failure with `context` in front of its message ("reading the Deployment: ..."), for a
  // caller that adds the step it was in. Code, HTTP status and reason stay.
  Status withContext(const std::string& context) const {
    Status status = *this;
    if (!ok()) {
      status.message_ = context + ": " + message_;
    }
    return status;
  }
  // The same failure with `reason` as its cause.
  Status withReason(std::string reason) const {
    Status status = *this;
    status.reason_ = std::move(reason);
    return status;
  }
  // The same failure about input field `field`.
  Status withField(std::string field) const {
    Status status = *this;
    status.field_ = std::move(field);
    return status;
  }
  // The same failure, to be tried again no sooner than `delay`.
  Status withRetryAfter(std::chrono::seconds delay) const {
    Status status = *this;
    status.retryAfter_ = delay;
    return status;
  }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Code codeForHttpStatus(int httpStatus) {
    switch (httpStatus) {
      case 400:
      case 411:
      case 413:
      case 415:
      case 422:
      case 431:
        return Code::kInvalidArgument;
      case 404:
      case 410:
        return Code::kNotFound;
      case 409:
        return Code::kConflict;
      case 429:
      case 502:
      case 503:
      case 504:
        return Code::kUnavailable;
      default:
        return Code::kInternal;
    }
  }

  Code code_ = Code::kOk;
  std::string message_;
  int httpStatus_ = 0;
  std::string reason_;
  std::string field_;
  std::chrono::seconds retryAfter_{0};
};

inline Status okStatus() {
  return Status();
}

// A value, or the Status of why there is none (a failed one). A plain value type.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "a StatusOr without a value needs a failed Status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // Only when ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace mp
