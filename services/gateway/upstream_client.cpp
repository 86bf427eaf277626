#include "gateway/upstream_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "base/status.h"
#include "gateway/upstream_response.h"

namespace mp::gateway {
namespace {

using Clock = std::chrono::steady_clock;

// The failures of upstream_client.h, each with its reason.
Status unreachable(std::string why) {
  return Status::unavailable(std::move(why)).withReason(kUpstreamUnreachable);
}
Status timedOut(std::string why) {
  return Status::unavailable(std::move(why)).withReason(kUpstreamTimedOut);
}
Status overloaded(std::string why) {
  return Status::unavailable(std::move(why)).withReason(kUpstreamOverloaded);
}

// How many times one request is sent again (a refused connect, or a connection that broke before a byte of
// the answer came back): enough to get past the pods of a scale-down that all go at once, bounded.
constexpr int kMaxResends = 3;

// GET, HEAD, PUT, DELETE and OPTIONS may be sent again when no answer came back (RFC 9110 9.2.2).
bool idempotent(const std::string& request) {
  for (const char* method : {"GET ", "HEAD ", "PUT ", "DELETE ", "OPTIONS "}) {
    if (request.compare(0, std::strlen(method), method) == 0) {
      return true;
    }
  }
  return false;
}

struct Pending {
  std::string request;
  bool head = false;
  UpstreamClient::Done done;
  int resends = 0;
  bool idempotent = false;
  std::shared_ptr<UpstreamStream> stream;  // where a chunked answer's body goes, if anywhere
};

// One address of the upstream and what the loop has on it.
struct Endpoint {
  UpstreamAddress address;
  bool listed = true;      // in the name's last answer; else retired once its connections are closed
  size_t connections = 0;  // open, in any phase
  size_t inFlight = 0;     // connecting or carrying a request
  std::chrono::steady_clock::time_point passedOverUntil{};  // a connect to it failed: others first
};

bool sameAddress(const UpstreamAddress& a, const UpstreamAddress& b) {
  return a.length == b.length && std::memcmp(&a.address, &b.address, a.length) == 0;
}

struct Connection {
  enum class Phase { kConnecting, kBusy, kIdle };
  int fd = -1;
  Endpoint* endpoint = nullptr;
  Clock::time_point opened;
  size_t requests = 0;  // carried, the current one included
  Phase phase = Phase::kConnecting;
  bool reused = false;          // carried an earlier request
  bool answerStarted = false;   // a byte of the current answer came back
  bool watchingWrites = false;  // EPOLLOUT is asked for: connecting, or a request only partly written
  size_t written = 0;
  Clock::time_point deadline;
  Pending current;
  std::unique_ptr<UpstreamResponse> response;
  uint64_t serial = 0;     // the current request's, for a resume that comes after it ended
  bool streaming = false;  // its chunked body goes to current.stream
  bool paused = false;     // the stream holds enough: not read until it resumes
};

}  // namespace

StatusOr<std::vector<UpstreamAddress>> resolveWithGetaddrinfo(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return Status::unavailable("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::vector<UpstreamAddress> addresses;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    UpstreamAddress address;
    std::memcpy(&address.address, entry->ai_addr, entry->ai_addrlen);
    address.length = entry->ai_addrlen;
    addresses.push_back(address);
  }
  freeaddrinfo(found);
  return addresses;
}

struct UpstreamClient::Loop : EventLoop {
  UpstreamSettings settings;
  Inbox<Pending> inbox{*this};     // requests from other threads, and from the loop's own
  Inbox<uint64_t> resumes{*this};  // streams that can take more, by their request's serial
  uint64_t serials = 0;

  // Loop thread only from here on.
  std::unordered_map<int, std::unique_ptr<Connection>> connections;  // by socket, its tag in the epoll set
  std::vector<Connection*> idle;                                     // most recently used last
  std::deque<Pending> waiting;
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  Clock::time_point resolvedAt{};
  size_t turnOf = 0;  // breaks ties between equally loaded endpoints in turn
  std::vector<char> buffer = std::vector<char>(64 * 1024);

  explicit Loop(UpstreamSettings s) : settings(std::move(s)) {}

  void onReady(Tag tag, uint32_t events) override;
  // After what was ready: the requests that arrived, then deadlines.
  Wait onTurn() override;
  void onShutdown() override;

  // -- The upstream's addresses ---------------------------------------------------------------------------

  // The upstream's addresses, asked again every resolveInterval; kUnavailable when the name has none
  // yet. Addresses the answer no longer has are retired: their idle connections close now, busy ones
  // after their request.
  Status resolve();
  void forgetRetired();
  // The listed endpoint with the fewest requests in flight, one not passed over first; among equals,
  // each in turn.
  Endpoint* leastLoaded();
  // A connect to `endpoint` failed, so its request was never sent: the address is passed over until the
  // name is next asked. Whether another address is up to try the request on instead.
  bool passOver(Endpoint* endpoint);

  // -- Scheduling -----------------------------------------------------------------------------------------

  // Gives a request a connection: an idle one to the least loaded address, a new one to it, an idle one
  // elsewhere when no more may open, or a place in the queue.
  void dispatch(Pending pending);
  // A connection came free or a slot opened: the longest-waiting request takes it.
  void next();
  // `pending` could not be sent on the connection it was given: once more on a new connection to the
  // least loaded address when `elsewhere` (a container just removed by `--scale`, a pod gone), else failed.
  void retryOrFail(Pending pending, bool elsewhere, const std::string& reason);
  // The most recently used idle connection to `endpoint` (any endpoint: nullptr), taken out of `idle`.
  Connection* takeIdle(const Endpoint* endpoint);
  // Answers requests past their deadline; returns the wait until the next deadline.
  Wait expire();
  // Ends `pending` without an answer (upstream_client.h: the failure's reason says why).
  static void answer(Pending& pending, Status failure) { pending.done(std::move(failure)); }

  // -- One connection -------------------------------------------------------------------------------------

  // A new connection to `endpoint` (nullptr: the least loaded), carrying `pending` once connected.
  void open(Endpoint* endpoint, Pending pending);
  void connected(Connection* connection);
  void connectFailed(Connection* connection, const std::string& reason);
  void start(Connection* connection, Pending pending);
  // Asks for writability or stops asking; false when the loop could not, and the connection failed.
  bool watchWrites(Connection* connection, bool writes);
  // Writes what is left of the request; false when the connection failed (and was handled).
  bool flush(Connection* connection);
  void receive(Connection* connection);
  // Hands what arrived of a chunked body to the request's stream; false when the connection is paused.
  bool passOn(Connection* connection);
  void resume(uint64_t serial);
  // The connection broke while it carried a request: a reused one that gave no byte of an answer was
  // most likely closed by the upstream while idle, so the request goes once more on a new connection.
  void broken(Connection* connection, const std::string& reason);
  void fail(Connection* connection, Status failure);
  void finished(Connection* connection);
  // Whether a connection that just carried its request may carry another.
  bool stillFresh(const Connection* connection) const;
  // A connection enters or leaves the connecting/busy phases: its endpoint's load follows.
  static void setPhase(Connection* connection, Connection::Phase phase);
  void closeConnection(Connection* connection);
};

Status UpstreamClient::Loop::resolve() {
  auto now = Clock::now();
  if (!endpoints.empty() && now - resolvedAt < settings.resolveInterval) {
    return okStatus();
  }
  StatusOr<std::vector<UpstreamAddress>> found = settings.resolver(settings.host, settings.port);
  if (!found.ok() || found->empty()) {
    // A name server that is away keeps the last answer in use, and is asked again after the interval:
    // not for every request, each of which would wait for its failure.
    if (!endpoints.empty()) {
      resolvedAt = now;
      return okStatus();
    }
    return found.ok() ? Status::unavailable("cannot resolve " + settings.host + ": no address")
                      : found.status();
  }
  resolvedAt = now;
  for (auto& endpoint : endpoints) {
    endpoint->listed = std::any_of(found->begin(), found->end(), [&](const UpstreamAddress& address) {
      return sameAddress(address, endpoint->address);
    });
  }
  for (const UpstreamAddress& address : *found) {
    bool known = std::any_of(endpoints.begin(), endpoints.end(),
                             [&](const auto& endpoint) { return sameAddress(endpoint->address, address); });
    if (!known) {
      endpoints.push_back(std::make_unique<Endpoint>(Endpoint{address}));
    }
  }
  std::vector<Connection*> retired;
  for (Connection* connection : idle) {
    if (!connection->endpoint->listed) {
      retired.push_back(connection);
    }
  }
  for (Connection* connection : retired) {
    closeConnection(connection);
  }
  forgetRetired();
  return okStatus();
}

void UpstreamClient::Loop::forgetRetired() {
  endpoints.erase(
      std::remove_if(endpoints.begin(), endpoints.end(),
                     [](const auto& endpoint) { return !endpoint->listed && endpoint->connections == 0; }),
      endpoints.end());
}

Endpoint* UpstreamClient::Loop::leastLoaded() {
  const auto now = Clock::now();
  Endpoint* best = nullptr;
  bool bestUp = false;
  const size_t count = endpoints.size();
  for (size_t i = 0; i < count; ++i) {
    Endpoint* candidate = endpoints[(turnOf + i) % count].get();
    const bool up = candidate->passedOverUntil <= now;
    if (candidate->listed &&
        (best == nullptr || (up && !bestUp) || (up == bestUp && candidate->inFlight < best->inFlight))) {
      best = candidate;
      bestUp = up;
    }
  }
  ++turnOf;
  return best;
}

bool UpstreamClient::Loop::passOver(Endpoint* endpoint) {
  const auto now = Clock::now();
  endpoint->passedOverUntil = now + settings.resolveInterval;
  return std::any_of(endpoints.begin(), endpoints.end(), [&](const auto& other) {
    return other.get() != endpoint && other->listed && other->passedOverUntil <= now;
  });
}

void UpstreamClient::Loop::retryOrFail(Pending pending, bool elsewhere, const std::string& reason) {
  if (elsewhere && pending.resends < kMaxResends) {
    ++pending.resends;
    open(nullptr, std::move(pending));
    return;
  }
  answer(pending, unreachable(reason));
}

void UpstreamClient::Loop::connectFailed(Connection* connection, const std::string& reason) {
  const bool elsewhere = passOver(connection->endpoint);
  Pending pending = std::move(connection->current);
  closeConnection(connection);
  retryOrFail(std::move(pending), elsewhere, reason);
  next();
}

Connection* UpstreamClient::Loop::takeIdle(const Endpoint* endpoint) {
  for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
    if (endpoint == nullptr || (*it)->endpoint == endpoint) {
      Connection* connection = *it;
      idle.erase(std::next(it).base());
      return connection;
    }
  }
  return nullptr;
}

void UpstreamClient::Loop::setPhase(Connection* connection, Connection::Phase phase) {
  const bool wasLoaded = connection->phase != Connection::Phase::kIdle;
  const bool isLoaded = phase != Connection::Phase::kIdle;
  if (wasLoaded != isLoaded) {
    connection->endpoint->inFlight += isLoaded ? 1 : static_cast<size_t>(-1);
  }
  connection->phase = phase;
}

void UpstreamClient::Loop::closeConnection(Connection* connection) {
  for (auto it = idle.begin(); it != idle.end(); ++it) {
    if (*it == connection) {
      idle.erase(it);
      break;
    }
  }
  setPhase(connection, Connection::Phase::kIdle);
  --connection->endpoint->connections;
  const bool retired = !connection->endpoint->listed;
  ::close(connection->fd);
  connections.erase(connection->fd);
  if (retired) {
    forgetRetired();
  }
}

bool UpstreamClient::Loop::stillFresh(const Connection* connection) const {
  if (!connection->endpoint->listed) {
    return false;
  }
  if (settings.connectionMaxRequests != 0 && connection->requests >= settings.connectionMaxRequests) {
    return false;
  }
  return settings.connectionMaxAge.count() == 0 ||
         Clock::now() - connection->opened < settings.connectionMaxAge;
}

void UpstreamClient::Loop::dispatch(Pending pending) {
  if (Status resolved = resolve(); !resolved.ok()) {
    answer(pending, unreachable(resolved.message()));
    return;
  }
  Endpoint* target = leastLoaded();
  Connection* connection = takeIdle(target);
  if (connection == nullptr && connections.size() < settings.maxConnections) {
    open(target, std::move(pending));
    return;
  }
  if (connection == nullptr) {
    connection = takeIdle(nullptr);
  }
  if (connection != nullptr) {
    start(connection, std::move(pending));
    return;
  }
  if (waiting.size() >= settings.queueLimit) {
    answer(pending, overloaded("too many requests are waiting"));
    return;
  }
  waiting.push_back(std::move(pending));
}

void UpstreamClient::Loop::open(Endpoint* endpoint, Pending pending) {
  if (endpoint == nullptr) {
    if (Status resolved = resolve(); !resolved.ok()) {
      answer(pending, unreachable(resolved.message()));
      return;
    }
    endpoint = leastLoaded();
  }
  const UpstreamAddress& address = endpoint->address;
  int fd = socket(address.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    answer(pending, unreachable(std::string("socket: ") + std::strerror(errno)));
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length);
  if (rc != 0 && errno != EINPROGRESS) {
    std::string reason = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    retryOrFail(std::move(pending), passOver(endpoint), reason);
    return;
  }
  // Level-triggered; writability only while connecting or while a request is partly written.
  if (Status watched = watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, static_cast<Tag>(fd)); !watched.ok()) {
    ::close(fd);
    answer(pending, unreachable(watched.message()));
    return;
  }
  auto owned = std::make_unique<Connection>();
  Connection* connection = owned.get();
  connection->fd = fd;
  connection->endpoint = endpoint;
  connection->opened = Clock::now();
  connection->current = std::move(pending);
  connection->deadline = connection->opened + settings.connectTimeout;
  ++endpoint->connections;
  ++endpoint->inFlight;  // kConnecting
  connections.emplace(fd, std::move(owned));
  connection->watchingWrites = true;
  if (rc == 0) {
    connected(connection);
  }
}

void UpstreamClient::Loop::connected(Connection* connection) {
  Pending pending = std::move(connection->current);
  start(connection, std::move(pending));
}

void UpstreamClient::Loop::start(Connection* connection, Pending pending) {
  setPhase(connection, Connection::Phase::kBusy);
  ++connection->requests;
  connection->answerStarted = false;
  connection->written = 0;
  connection->response = std::make_unique<UpstreamResponse>(pending.head);
  connection->current = std::move(pending);
  connection->serial = ++serials;
  connection->streaming = false;
  connection->paused = false;
  connection->deadline = Clock::now() + settings.timeout;
  // The answer is read when it arrives (EPOLLIN).
  flush(connection);
}

bool UpstreamClient::Loop::watchWrites(Connection* connection, bool writes) {
  if (connection->watchingWrites == writes) {
    return true;
  }
  const uint32_t events = EPOLLIN | EPOLLRDHUP | (writes ? EPOLLOUT : 0u);
  if (Status watched = rewatch(connection->fd, events, static_cast<Tag>(connection->fd)); !watched.ok()) {
    fail(connection, unreachable(watched.message()));
    return false;
  }
  connection->watchingWrites = writes;
  return true;
}

bool UpstreamClient::Loop::flush(Connection* connection) {
  const std::string& request = connection->current.request;
  while (connection->written < request.size()) {
    ssize_t sent = ::send(connection->fd, request.data() + connection->written,
                          request.size() - connection->written, MSG_NOSIGNAL);
    if (sent > 0) {
      connection->written += static_cast<size_t>(sent);
    } else if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
      return watchWrites(connection, true);
    } else {
      broken(connection, std::string("send: ") + std::strerror(errno));
      return false;
    }
  }
  return watchWrites(connection, false);
}

void UpstreamClient::Loop::receive(Connection* connection) {
  for (;;) {
    ssize_t got = ::recv(connection->fd, buffer.data(), buffer.size(), 0);
    if (got > 0) {
      if (connection->phase != Connection::Phase::kBusy) {
        // Bytes nobody asked for: the connection is out of step; drop it.
        closeConnection(connection);
        return;
      }
      connection->answerStarted = true;
      connection->response->feed(buffer.data(), static_cast<size_t>(got));
      if (connection->response->failed()) {
        fail(connection, unreachable("invalid answer: " + connection->response->error()));
        return;
      }
      if (connection->current.stream && connection->response->chunkedBodyStarted() && !passOn(connection)) {
        return;
      }
      if (connection->response->complete()) {
        finished(connection);
        return;
      }
      continue;
    }
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
      return;
    }
    // The upstream closed (got == 0) or reset the connection.
    if (connection->phase != Connection::Phase::kBusy) {
      closeConnection(connection);
      return;
    }
    if (got == 0) {
      connection->response->endOfStream();
      if (connection->response->complete()) {
        finished(connection);
        return;
      }
    }
    broken(connection,
           got == 0 ? "upstream closed the connection" : std::string("recv: ") + std::strerror(errno));
    return;
  }
}

bool UpstreamClient::Loop::passOn(Connection* connection) {
  UpstreamStream& stream = *connection->current.stream;
  if (!connection->streaming) {
    connection->streaming = true;
    stream.head(connection->response->status(), connection->response->headers());
  }
  std::string& body = connection->response->body();
  if (body.empty()) {
    return true;
  }
  std::string piece;
  piece.swap(body);
  connection->deadline = Clock::now() + settings.timeout;
  const uint64_t serial = connection->serial;
  const bool more = stream.piece(std::move(piece), [this, serial] { resumes.put(serial); });
  if (more || connection->response->complete()) {
    return true;
  }
  // Read no further (EPOLLERR and EPOLLHUP still come): the socket's buffer fills and the upstream waits.
  if (Status watched = rewatch(connection->fd, 0, static_cast<Tag>(connection->fd)); !watched.ok()) {
    fail(connection, unreachable(watched.message()));
    return false;
  }
  connection->watchingWrites = false;
  connection->paused = true;
  // Waiting for the client, not the upstream: no upstream deadline until it resumes. A client that stalls
  // for good is cut by inventory-app (its stream's stall limit), whose close ends this answer too.
  connection->deadline = Clock::time_point::max();
  return false;
}

void UpstreamClient::Loop::resume(uint64_t serial) {
  for (auto& [fd, owned] : connections) {
    Connection* connection = owned.get();
    if (connection->serial != serial || !connection->paused ||
        connection->phase != Connection::Phase::kBusy) {
      continue;
    }
    connection->paused = false;
    connection->deadline = Clock::now() + settings.timeout;
    if (Status watched = rewatch(fd, EPOLLIN | EPOLLRDHUP, static_cast<Tag>(fd)); !watched.ok()) {
      fail(connection, unreachable(watched.message()));
      return;
    }
    receive(connection);
    return;
  }
}

// The connection broke before a byte of the answer came back. The request is sent again, on a new
// connection, when that is safe: the connection was reused (the upstream closed it as it went idle, before
// it could have read the request), or the request is idempotent; a new connection that broke so is to an
// upstream going away (a pod of a scale-down), whose address is passed over until the name is asked again.
void UpstreamClient::Loop::broken(Connection* connection, const std::string& reason) {
  Pending& current = connection->current;
  if (!connection->answerStarted && (connection->reused || current.idempotent) &&
      current.resends < kMaxResends) {
    if (!connection->reused) {
      passOver(connection->endpoint);
    }
    Pending pending = std::move(current);
    ++pending.resends;
    closeConnection(connection);
    if (connections.size() < settings.maxConnections) {
      open(nullptr, std::move(pending));
    } else {
      waiting.push_front(std::move(pending));
    }
    return;
  }
  fail(connection, unreachable(reason));
}

void UpstreamClient::Loop::fail(Connection* connection, Status failure) {
  Pending pending = std::move(connection->current);
  closeConnection(connection);
  answer(pending, std::move(failure));
  next();
}

void UpstreamClient::Loop::finished(Connection* connection) {
  UpstreamAnswer result;
  result.status = connection->response->status();
  result.headers = connection->response->headers();
  result.body = std::move(connection->response->body());
  bool reusable = connection->response->reusable() && stillFresh(connection);
  Pending pending = std::move(connection->current);
  connection->response.reset();
  if (reusable) {
    setPhase(connection, Connection::Phase::kIdle);
    connection->reused = true;
    idle.push_back(connection);
  } else {
    closeConnection(connection);
  }
  pending.done(std::move(result));
  next();
}

void UpstreamClient::Loop::next() {
  while (!waiting.empty() && (!idle.empty() || connections.size() < settings.maxConnections)) {
    Pending pending = std::move(waiting.front());
    waiting.pop_front();
    dispatch(std::move(pending));
  }
}

void UpstreamClient::Loop::onReady(Tag tag, uint32_t events) {
  const int fd = static_cast<int>(tag);
  auto it = connections.find(fd);
  if (it == connections.end()) {
    return;
  }
  Connection* connection = it->second.get();
  if (connection->paused) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      fail(connection, unreachable("the connection broke while its answer was being passed on"));
    }
    return;
  }
  if (connection->phase == Connection::Phase::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      return;
    }
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      connectFailed(connection, std::string("connect: ") + std::strerror(error));
      return;
    }
    connected(connection);
    return;
  }
  if (connection->phase == Connection::Phase::kBusy && (events & EPOLLOUT)) {
    if (!flush(connection)) {
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
    receive(connection);
  }
}

Wait UpstreamClient::Loop::onTurn() {
  for (auto& pending : inbox.take()) {
    dispatch(std::move(pending));
  }
  for (uint64_t serial : resumes.take()) {
    resume(serial);
  }
  return expire();
}

Wait UpstreamClient::Loop::expire() {
  auto now = Clock::now();
  Clock::time_point nearest = Clock::time_point::max();
  std::vector<Connection*> expired;
  for (auto& [fd, connection] : connections) {
    if (connection->phase == Connection::Phase::kIdle) {
      continue;
    }
    if (connection->deadline <= now) {
      expired.push_back(connection.get());
    } else if (connection->deadline < nearest) {
      nearest = connection->deadline;
    }
  }
  for (Connection* connection : expired) {
    if (connection->phase == Connection::Phase::kConnecting) {
      connectFailed(connection,
                    "connect timed out after " + std::to_string(settings.connectTimeout.count()) + " ms");
    } else {
      fail(connection, timedOut("no answer within " + std::to_string(settings.timeout.count()) + " ms"));
    }
  }
  if (!expired.empty()) {
    return Wait::now();
  }
  if (nearest == Clock::time_point::max()) {
    return Wait::forever();
  }
  return Wait::atMost(std::chrono::duration_cast<std::chrono::milliseconds>(nearest - now) +
                      std::chrono::milliseconds(1));
}

void UpstreamClient::Loop::onShutdown() {
  std::deque<Pending> left = inbox.take();
  for (auto& pending : waiting) {
    left.push_back(std::move(pending));
  }
  waiting.clear();
  for (auto& [fd, connection] : connections) {
    if (connection->phase != Connection::Phase::kIdle) {
      left.push_back(std::move(connection->current));
    }
    ::close(fd);
  }
  connections.clear();
  idle.clear();
  for (auto& pending : left) {
    answer(pending, unreachable("the gateway is shutting down"));
  }
}

namespace {

// Each loop asks the name itself. An answer that fails or is empty (a name server's hiccup, a headless
// Service for a moment without a ready pod) is stood in for by the last good answer any loop got, so that
// a loop that has not asked before does not fail its first requests while the others go on.
UpstreamResolver rememberingLastAnswer(UpstreamResolver resolver) {
  struct Last {
    std::mutex mutex;
    std::vector<UpstreamAddress> addresses;
  };
  auto last = std::make_shared<Last>();
  return [resolver = std::move(resolver), last](const std::string& host,
                                                uint16_t port) -> StatusOr<std::vector<UpstreamAddress>> {
    StatusOr<std::vector<UpstreamAddress>> found = resolver(host, port);
    std::lock_guard<std::mutex> lock(last->mutex);
    if (found.ok() && !found->empty()) {
      last->addresses = *found;
      return found;
    }
    if (!last->addresses.empty()) {
      return last->addresses;
    }
    return found;
  };
}

}  // namespace

UpstreamClient::UpstreamClient(UpstreamSettings settings) {
  settings.resolver = rememberingLastAnswer(std::move(settings.resolver));
  const size_t count = std::max<size_t>(settings.loops, 1);
  for (size_t i = 0; i < count; ++i) {
    // Connections (at least one per loop) and queue split as evenly as they go.
    UpstreamSettings share = settings;
    share.maxConnections =
        std::max<size_t>(settings.maxConnections / count + (i < settings.maxConnections % count ? 1 : 0), 1);
    share.queueLimit = settings.queueLimit / count + (i < settings.queueLimit % count ? 1 : 0);
    loops_.add(std::make_unique<Loop>(std::move(share)));
  }
  loops_.start(settings.hosted);
}

UpstreamClient::~UpstreamClient() = default;

size_t UpstreamClient::loops() const {
  return loops_.size();
}

HostedLoop& UpstreamClient::loop(size_t index) {
  return loops_.at(index);
}

void UpstreamClient::send(std::string request, bool head, Done done, std::shared_ptr<UpstreamStream> stream) {
  const bool safe = idempotent(request);
  loops_.put(Pending{std::move(request), head, std::move(done), 0, safe, std::move(stream)});
}

}  // namespace mp::gateway
