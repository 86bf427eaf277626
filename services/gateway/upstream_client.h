#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mp::gateway {

struct UpstreamSettings {
  std::string host;  // a name (resolved when a connection opens, the answer kept 30 s) or an address
  uint16_t port = 80;
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds timeout{10000};  // from the request's start on a connection to its whole answer
  size_t maxConnections = 32;                // requests in flight at once; more wait for a connection
  size_t queueLimit = 4096;                  // requests waiting for a connection; more are kOverloaded
};

struct UpstreamResult {
  enum class Outcome {
    kAnswered,     // status, headers, body are the upstream's answer
    kUnreachable,  // refused, reset, closed or the connect timed out; the request may not have arrived
    kTimedOut,     // sent, but no whole answer within the timeout
    kOverloaded,   // too many requests already waiting for a connection
  };
  Outcome outcome = Outcome::kUnreachable;
  std::string reason;  // why, for anything but kAnswered
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
};

// An HTTP/1.1 client for one upstream, driven by one event-loop thread of its own (epoll): a request
// parks no thread while it waits, and keep-alive connections (at most maxConnections) are reused, most
// recently used first. A request that meets a reused connection the upstream has meanwhile closed (no
// byte of an answer came back) is sent once more on a new connection, as libcurl and nginx do.
// send() is thread-safe; `done` runs on the loop thread, exactly once per request, and must not block.
class UpstreamClient {
 public:
  using Done = std::function<void(UpstreamResult)>;

  explicit UpstreamClient(UpstreamSettings settings);
  // Stops the loop; requests still in flight are answered kUnreachable ("shutting down").
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // `request` is the whole request as bytes ("GET /x HTTP/1.1\r\n...\r\n\r\nbody"); `head`: it is a HEAD
  // request, whose answer has no body.
  void send(std::string request, bool head, Done done);

  struct Loop;

 private:
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace mp::gateway
