#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http.h"

namespace mp::http {

using Handler = std::function<Response(const Request&)>;

// Answers a request handled asynchronously; callable from any thread.
using Reply = std::function<void(Response)>;
// A handler that answers later: called on the reactor thread, it must not block, must copy from the
// request what it needs before it returns, and must call `reply` once (later calls are ignored).
using AsyncHandler = std::function<void(const Request&, Reply reply)>;

// The answer of a streaming handler: either one whole Response (send), or a head and then the body in
// pieces as they are made, with chunked transfer coding (to an HTTP/1.0 client: unframed, until the
// connection closes). Nothing is gathered: each piece goes to the socket, or to the connection's write
// queue when the socket is full; unwritten() is what waits there, for the writer's back-pressure. An
// answer ends with send(), end() or abort(), once; a stream dropped without one is aborted (begun) or
// answered 500 (not begun). Thread-safe: any thread may write, one at a time.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // The whole answer at once, instead of a stream (nothing begun yet).
  virtual void send(Response response) = 0;
  // The status line and headers of `head` (its body ignored), Transfer-Encoding: chunked.
  virtual void begin(const Response& head) = 0;
  // One piece of the body, after begin(); an empty one is skipped (a chunk of size 0 ends the body).
  virtual void write(std::string_view piece) = 0;
  // The body is complete: the last chunk.
  virtual void end() = 0;
  // The body cannot be completed (its source failed): the connection is closed without the last chunk, so
  // the client sees a truncated body, never a well-formed partial one.
  virtual void abort() = 0;

  virtual bool begun() const = 0;
  // The client is gone: what is written goes nowhere.
  virtual bool gone() const = 0;
  // Bytes written and not yet taken by the socket.
  virtual size_t unwritten() const = 0;
  // Runs `then` once unwritten() is at most `bytes` (at once when it already is) or the client is gone;
  // on the connection's reactor thread or the calling one. Must not block.
  virtual void whenDrained(size_t bytes, std::function<void()> then) = 0;
  // Blocks until unwritten() is at most `bytes`; false when the client is gone or `timeout` passed first.
  virtual bool waitDrained(size_t bytes, std::chrono::milliseconds timeout) = 0;
};

// A handler that may stream its answer: on a worker (Dispatch::kWorker, it may block, e.g. in waitDrained)
// or on the reactor thread (Dispatch::kAsync: it must not block and answers later, from any thread).
using StreamHandler = std::function<void(const Request&, std::shared_ptr<ResponseStream> answer)>;

// Where a handler runs: on Pistache's reactor thread (cheap, never blocks), on the worker pool
// (anything that waits on a database, a broker or another service), or started on the reactor thread
// and answered from wherever its work completes (an event loop: no thread waits meanwhile).
enum class Dispatch { kInline, kWorker, kAsync };

// Maps (method, path) to a handler by route template ("/api/movies/:id"; a final "*" matches one or
// more further segments, "/api/movies/*"). Routes are tried in the order added. Built before the server
// starts, then read-only: safe to match from many threads at once.
class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;  // the template, used as the metrics label
    std::vector<std::string> segments;
    Handler handler;  // kInline and kWorker
    Dispatch dispatch;
    AsyncHandler asyncHandler;    // kAsync
    StreamHandler streamHandler;  // a streaming route (kWorker or kAsync)
  };

  struct Match {
    const Route* route = nullptr;  // null: see allowed
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<std::string> allowed;  // non-empty: the path exists but not for this method (405)
  };

  void add(std::string method, const std::string& pattern, Handler handler,
           Dispatch dispatch = Dispatch::kWorker);
  void addAsync(std::string method, const std::string& pattern, AsyncHandler handler);
  void addStream(std::string method, const std::string& pattern, StreamHandler handler, Dispatch dispatch);
  Match match(const std::string& method, const std::string& path) const;

 private:
  std::vector<Route> routes_;
};

// "/api/movies/" -> {"api","movies"}; empty segments (double or trailing slashes) are dropped.
std::vector<std::string> splitPath(const std::string& path);

}  // namespace mp::http
