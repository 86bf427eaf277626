#pragma once

#include <functional>
#include <string>
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
    AsyncHandler asyncHandler;  // kAsync
  };

  struct Match {
    const Route* route = nullptr;  // null: see allowed
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<std::string> allowed;  // non-empty: the path exists but not for this method (405)
  };

  void add(std::string method, const std::string& pattern, Handler handler,
           Dispatch dispatch = Dispatch::kWorker);
  void addAsync(std::string method, const std::string& pattern, AsyncHandler handler);
  Match match(const std::string& method, const std::string& path) const;

 private:
  std::vector<Route> routes_;
};

// "/api/movies/" -> {"api","movies"}; empty segments (double or trailing slashes) are dropped.
std::vector<std::string> splitPath(const std::string& path);

}  // namespace mp::http
