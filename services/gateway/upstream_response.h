#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mp::gateway {

// Reads one HTTP/1.1 response from the bytes an upstream connection delivers, in pieces of any size:
// the status line, the headers, then the body by Content-Length, chunked transfer coding, or up to the
// connection's end. Pure logic, no I/O. Not thread-safe (one per request on one connection).
class UpstreamResponse {
 public:
  // A response to HEAD has no body whatever its headers say.
  explicit UpstreamResponse(bool toHeadRequest) : toHead_(toHeadRequest) {}

  // Consumes bytes. Bytes after a complete response are ignored (the client never pipelines).
  void feed(const char* data, size_t size);
  // The connection ended: completes a body that runs to the end, anything else unfinished is an error.
  void endOfStream();

  bool complete() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const std::string& error() const { return error_; }
  // True when the connection may carry another request after this response.
  bool reusable() const { return complete() && keepAlive_ && !untilClose_; }

  // The head is read (status and headers known) and the body comes in chunks: what body() holds is what
  // arrived of it since it was last emptied (a caller passing a chunked body on takes it as it comes).
  bool chunkedBodyStarted() const { return chunked_ && state_ != State::kHead && state_ != State::kFailed; }

  int status() const { return status_; }
  // In arrival order, names lower case, values without surrounding spaces.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  std::string& body() { return body_; }

 private:
  enum class State {
    kHead,
    kLength,
    kChunkSize,
    kChunkData,
    kChunkEnd,
    kTrailers,
    kUntilClose,
    kDone,
    kFailed
  };

  void fail(std::string error);
  bool parseHead(const std::string& head);
  bool takeBody(const char*& data, const char* end);
  bool takeLine(const char*& data, const char* end, std::string* line);

  bool toHead_;
  State state_ = State::kHead;
  std::string pending_;  // an unfinished head or line
  std::string error_;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  size_t remaining_ = 0;  // body or chunk bytes still to come
  bool keepAlive_ = true;
  bool untilClose_ = false;
  bool chunked_ = false;
};

}  // namespace mp::gateway
