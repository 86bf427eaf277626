#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "http/event_loop.h"

namespace mp::gateway {

// One address of the upstream, as a resolver answers it.
struct UpstreamAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
};

// Every address `host` has, for `port`; a failure when it has none. The default asks getaddrinfo.
using UpstreamResolver =
    std::function<StatusOr<std::vector<UpstreamAddress>>(const std::string& host, uint16_t port)>;
StatusOr<std::vector<UpstreamAddress>> resolveWithGetaddrinfo(const std::string& host, uint16_t port);

struct UpstreamSettings {
  // A name or an address. A name is resolved again every resolveInterval, and its every address is used
  // (docker compose --scale, a headless Service); a failed resolution keeps the last answer.
  std::string host;
  uint16_t port = 80;
  std::chrono::milliseconds resolveInterval{5000};
  UpstreamResolver resolver = resolveWithGetaddrinfo;
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds timeout{10000};  // from the request's start on a connection to its whole answer
  size_t maxConnections = 32;                // requests in flight at once; more wait for a connection
  size_t queueLimit = 4096;                  // requests waiting for a connection; more are refused
  // A kept-alive connection is closed after this long or this many requests (0: no limit), so that
  // connections made through a Service's one address (kube-proxy picks a pod per connection) move on to
  // pods added since: a scaled-up upstream gets its share.
  std::chrono::milliseconds connectionMaxAge{10000};
  size_t connectionMaxRequests = 1000;
  // Event loops the connections and the queue are split over (at least one connection each).
  size_t loops = 1;
  // false: each loop runs on a thread of its own. true: each is driven by a host (loop(i), handed to
  // e.g. HttpServer::host), so a request sent from a host's thread is forwarded, answered and its `done`
  // run on that thread, without a hand-over; the hosts must stop before the client is destroyed.
  bool hosted = false;
};

// The upstream's answer, whatever its status.
struct UpstreamAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
};

// The receiver of a chunked answer's body as it arrives (UpstreamClient::send with one), instead of in
// UpstreamAnswer::body: nothing of it is gathered. Called on the loop's thread; must not block.
class UpstreamStream {
 public:
  virtual ~UpstreamStream() = default;
  // A chunked answer's head came. Its body follows in piece() calls, and the request's `done` ends it: an
  // UpstreamAnswer without a body when the last chunk came, a failure when the body was cut short.
  virtual void head(int status, const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  // A piece of the body (its chunk framing removed). False: the receiver holds enough for now, and the
  // connection is read no further until `resume` is called (once, from any thread); the request's timeout
  // then counts from the last piece, so a receiver that never resumes fails it kUpstreamTimedOut.
  virtual bool piece(std::string bytes, std::function<void()> resume) = 0;
};

// Why a request got no answer: a failed Status, code kUnavailable, with one of these as its reason()
// (callers branch on it, not on the message, which says why) and httpStatus() 0 (no answer came back).
// Refused, reset, closed, an invalid answer, or the connect timed out; the request may not have arrived.
inline constexpr const char kUpstreamUnreachable[] = "UpstreamUnreachable";
// Sent, but no whole answer within the timeout.
inline constexpr const char kUpstreamTimedOut[] = "UpstreamTimedOut";
// Too many requests already waiting for a connection (queueLimit); not sent.
inline constexpr const char kUpstreamOverloaded[] = "UpstreamOverloaded";

// An HTTP/1.1 client for one upstream, driven by event loops (epoll; threads of their own, or hosted): a
// request parks no thread while it waits, and keep-alive connections (at most maxConnections) are reused.
// Each request goes to the address with the fewest requests in flight (ties in turn), on its most recently
// used idle connection, or a new one; connections to an address the name no longer has are closed. A request
// goes to the loop of the thread that sends it when that thread drives one, else to the next loop in turn. A
// request that meets a reused connection the upstream has meanwhile closed (no byte of an answer came back)
// is sent again on a new connection, as libcurl and nginx do; so is an idempotent one (GET, HEAD, PUT,
// DELETE, OPTIONS) whose new connection broke before an answer, and one whose connect was refused, on
// another address (at most 3 times). send() is thread-safe; `done` runs on the
// loop's thread, exactly once per request, and must not block.
class UpstreamClient {
 public:
  using Done = std::function<void(StatusOr<UpstreamAnswer>)>;

  explicit UpstreamClient(UpstreamSettings settings);
  // Stops the loop; requests still in flight fail kUpstreamUnreachable ("shutting down").
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // `request` is the whole request as bytes ("GET /x HTTP/1.1\r\n...\r\n\r\nbody"); `head`: it is a HEAD
  // request, whose answer has no body. With a `stream`, a chunked answer's body goes to it as it arrives
  // (UpstreamStream), and the timeout is the longest wait for the next piece instead of for the whole answer.
  void send(std::string request, bool head, Done done, std::shared_ptr<UpstreamStream> stream = nullptr);

  size_t loops() const;
  // Loop `index` (0..loops()-1), for its host to drive (UpstreamSettings::hosted).
  HostedLoop& loop(size_t index);

  struct Loop;

 private:
  LoopGroup<Loop> loops_;
};

}  // namespace mp::gateway
