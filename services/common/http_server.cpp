#include "common/http_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "common/request_head.h"
#include "common/worker_pool.h"

namespace mp::http {

namespace P = Pistache;

struct HttpServer::State {
  ServerOptions options;
  ServiceMetrics& metrics;
  Router router;
  ReadinessCheck readiness;
  Admission admission;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<P::Http::Endpoint> endpoint;
  std::atomic<bool> draining{false};

  State(ServerOptions o, ServiceMetrics& m) : options(std::move(o)), metrics(m) {}
};

namespace {

using Clock = std::chrono::steady_clock;

// What the server remembers about one client connection between reads.
struct ConnectionGuard {
  size_t pending = 0;       // bytes of the request being received
  size_t discarded = 0;     // bytes swallowed after an answered error
  bool discarding = false;  // the stream is no longer parsable: swallow until the client closes
  std::string head;         // the request's head so far, until checkRequestHead has seen all of it
  bool headChecked = false;
  size_t lineStart = 0;  // where the head's last, incomplete line starts (0: still the request line)
};
constexpr const char* kGuardKey = "mp.guard";
// After an error answer, at most this much more input is swallowed before the socket is shut.
constexpr size_t kMaxDiscardBytes = 16u << 20;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Pistache keeps only a map of query values; the request line's raw query is rebuilt from the
// resource it saw. Pistache does not percent-decode, so values are decoded here.
Request convert(const P::Http::Request& in, const std::shared_ptr<P::Tcp::Peer>& peer, std::string* error) {
  Request out;
  out.method = P::Http::methodString(in.method());
  out.path = in.resource();
  std::string raw;
  for (auto it = in.query().parameters_begin(); it != in.query().parameters_end(); ++it) {
    raw += (raw.empty() ? "" : "&") + it->first + (it->second.empty() ? "" : "=" + it->second);
  }
  out.rawQuery = raw;
  auto parsed = parseQuery(raw);
  if (!parsed) {
    *error = "the query string has a malformed %-escape";
  } else {
    out.query = std::move(*parsed);
  }
  // One stream per thread, reset per header: constructing an ostringstream (its locale) per header per
  // request showed in the profile.
  thread_local std::ostringstream value;
  for (const auto& header : in.headers().list()) {
    value.str(std::string());
    value.clear();
    header->write(value);
    out.headers.emplace_back(lower(header->name()), value.str());
  }
  for (const auto& [name, raw] : in.headers().rawList()) {
    out.headers.emplace_back(lower(name), raw.value());
  }
  out.body = in.body();
  if (peer) {
    out.remoteAddress = peer->address().host();
  }
  return out;
}

// A response header of any name. Pistache 0.0.5 writes only typed headers (raw ones are dropped), so
// every header we send is one of these, except Connection, which Pistache itself acts on.
class NamedHeader : public P::Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  uint64_t hash() const override { return P::Http::Header::detail::hash(name_.c_str()); }
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& stream) const override { stream << value_; }

 private:
  std::string name_;
  std::string value_;
};

void writeResponse(P::Http::ResponseWriter& writer, const Response& response) {
  auto& headers = writer.headers();
  headers.add(std::make_shared<NamedHeader>("Content-Type", response.contentType));
  for (const auto& [name, value] : response.headers) {
    if (lower(name) == "connection") {
      headers.remove<P::Http::Header::Connection>();
      headers.add<P::Http::Header::Connection>(lower(value) == "close"
                                                   ? P::Http::ConnectionControl::Close
                                                   : P::Http::ConnectionControl::KeepAlive);
    } else {
      headers.add(std::make_shared<NamedHeader>(name, value));
    }
  }
  try {
    writer.send(static_cast<P::Http::Code>(response.status), response.body);
  } catch (const std::exception& e) {
    // The client went away before its answer: nothing left to tell it.
    log::debug("http_write_failed", {{"reason", e.what()}});
  }
}

// The whole response as bytes, for answers written outside Pistache's response path.
std::string serialize(const Response& response) {
  std::string text =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reasonPhrase(response.status) + "\r\n";
  text += "Content-Type: " + response.contentType + "\r\n";
  for (const auto& [name, value] : response.headers) {
    text += name + ": " + value + "\r\n";
  }
  text += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n" + response.body;
  return text;
}

// The Pistache handler. Copies share the server's state (Pistache clones it per reactor thread).
class Adapter : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(Adapter)

  explicit Adapter(std::shared_ptr<HttpServer::State> state) : state_(std::move(state)) {}

  void onRequest(const P::Http::Request&, P::Http::ResponseWriter) override {
    // Not used: onInput below drives parsing and dispatch itself.
  }

  // Replaces Pistache's own input path so that (1) HTTP/1.1 is keep-alive unless the client says
  // otherwise (Pistache 0.0.5 closes), and (2) oversized or malformed requests get the JSON error of
  // docs/openapi.yaml rather than Pistache's plain text, after which the rest of that stream is ignored.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<P::Tcp::Peer>& peer) override {
    auto guard = guardOf(peer);
    if (guard->discarding) {
      guard->discarded += len;
      if (guard->discarded > kMaxDiscardBytes) {
        ::shutdown(peer->fd(), SHUT_RDWR);
      }
      return;
    }
    peer->setIdle(false);
    auto parser = getParser(peer);
    guard->pending += len;
    if (guard->pending > state_->options.maxRequestBytes) {
      parser->reset();
      rejectStream(
          peer, *guard, 413, "payload_too_large",
          "the request is larger than " + std::to_string(state_->options.maxRequestBytes) + " bytes");
      return;
    }
    if (!guard->headChecked && !checkHead(peer, *guard, buffer, len)) {
      parser->reset();
      return;
    }
    if (!parser->feed(buffer, len)) {
      parser->reset();
      rejectStream(
          peer, *guard, 413, "payload_too_large",
          "the request is larger than " + std::to_string(state_->options.maxRequestBytes) + " bytes");
      return;
    }
    P::Http::Private::State parsed;
    try {
      parsed = parser->parse();
    } catch (const P::Http::HttpError& e) {
      parser->reset();
      rejectStream(peer, *guard, e.code() == 501 ? 501 : 400, "bad_request",
                   std::string("malformed HTTP request: ") + e.reason());
      return;
    } catch (const std::exception& e) {
      parser->reset();
      rejectStream(peer, *guard, 400, "bad_request", std::string("malformed HTTP request: ") + e.what());
      return;
    }
    if (parsed != P::Http::Private::State::Done) {
      return;  // wait for more bytes
    }
    guard->pending = 0;
    guard->headChecked = false;
    guard->lineStart = 0;
    auto& request = parser->request;
    P::Http::ResponseWriter writer(request.version(), transport(), this, peer);
    bool keepAlive = request.version() == P::Http::Version::Http11;
    if (auto connection = request.headers().tryGet<P::Http::Header::Connection>()) {
      keepAlive = connection->control() == P::Http::ConnectionControl::KeepAlive;
    }
    writer.headers().add<P::Http::Header::Connection>(keepAlive ? P::Http::ConnectionControl::KeepAlive
                                                                : P::Http::ConnectionControl::Close);
    dispatch(request, std::move(writer), peer);
    parser->reset();
    peer->setIdle(true);
  }

 private:
  std::shared_ptr<ConnectionGuard> guardOf(const std::shared_ptr<P::Tcp::Peer>& peer) {
    auto data = peer->tryGetData(kGuardKey);
    if (!data) {
      data = std::make_shared<ConnectionGuard>();
      peer->putData(kGuardKey, data);
    }
    return std::static_pointer_cast<ConnectionGuard>(data);
  }

  // Our own strict check of a request's head as it arrives, before Pistache sees any of it (see
  // request_head.h). False when the stream was rejected. The head is checked again only when a line was
  // completed or the last line grew past a header field's limit, so a head sent a byte at a time costs
  // no more than one check per line.
  bool checkHead(const std::shared_ptr<P::Tcp::Peer>& peer, ConnectionGuard& guard, const char* buffer,
                 size_t len) {
    const size_t before = guard.head.size();
    guard.head.append(buffer, len);
    const char* newline = static_cast<const char*>(std::memchr(buffer, '\n', len));
    HeadLimits limits;
    limits.maxRequestBytes = state_->options.maxRequestBytes;
    const bool headerLineTooLong =
        guard.lineStart > 0 && guard.head.size() - guard.lineStart > limits.maxHeaderLineBytes;
    if (before > 0 && newline == nullptr && !headerLineTooLong) {
      return true;
    }
    size_t skip = guard.head.rfind("\r\n", 0) == 0 ? 2 : 0;
    size_t end = guard.head.find("\r\n\r\n", std::max(skip, before >= 3 ? before - 3 : 0));
    if (end != std::string::npos) {
      guard.head.resize(end + 4);
      guard.headChecked = true;
    }
    if (auto rejection = checkRequestHead(guard.head, limits)) {
      rejectStream(peer, guard, rejection->status, rejection->code, rejection->message);
      return false;
    }
    if (guard.headChecked) {
      std::string().swap(guard.head);
    } else if (size_t last = guard.head.rfind('\n'); last != std::string::npos) {
      guard.lineStart = last + 1;
    }
    return true;
  }

  // Answers an error for a stream that cannot be parsed further, asks the client to close, and
  // swallows whatever it still sends (closing at once would reset the socket and lose the answer).
  void rejectStream(const std::shared_ptr<P::Tcp::Peer>& peer, ConnectionGuard& guard, int status,
                    const std::string& code, const std::string& message) {
    guard.discarding = true;
    auto response = Response::error(status, code, message);
    response.headers.emplace_back("Connection", "close");
    // Written as raw bytes through the peer (queued in order with earlier answers): Pistache's writer
    // would close the socket at once on "Connection: close" and the client could lose this answer.
    std::string bytes = serialize(response);
    const size_t length = bytes.size();
    try {
      peer->send(P::RawBuffer(std::move(bytes), length));
    } catch (const std::exception& e) {
      log::debug("http_write_failed", {{"reason", e.what()}});
    }
    state_->metrics.observeRequest("UNKNOWN", "unmatched", status, 0);
    log::warn("http_rejected", {{"status", status}, {"reason", message}, {"remote", peer->address().host()}});
  }

  void dispatch(const P::Http::Request& raw, P::Http::ResponseWriter writer,
                const std::shared_ptr<P::Tcp::Peer>& peer) {
    auto started = Clock::now();
    auto state = state_;
    state->metrics.inFlight().Increment();
    std::string conversionError;
    Request request = convert(raw, peer, &conversionError);
    auto match = state->router.match(request.method, request.path);
    std::string route = match.route ? match.route->pattern : "unmatched";
    auto finish = [state, started, route](P::Http::ResponseWriter& out, const Request& req,
                                          Response response) {
      writeResponse(out, response);
      double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      state->metrics.observeRequest(req.method, route, response.status, seconds);
      state->metrics.inFlight().Decrement();
      if (state->options.accessLog && log::enabled(log::Level::kInfo)) {
        log::info("http_request", {{"method", req.method},
                                   {"path", req.path},
                                   {"route", route},
                                   {"status", response.status},
                                   {"duration_ms", seconds * 1000},
                                   {"remote", req.remoteAddress}});
      }
    };

    if (!conversionError.empty()) {
      finish(writer, request, Response::error(400, "bad_request", conversionError));
      return;
    }
    if (state->draining && route != "/healthz") {
      auto response = Response::error(503, "draining", "the service is shutting down");
      response.headers.emplace_back("Connection", "close");
      finish(writer, request, response);
      return;
    }
    if (state->admission) {
      if (auto refusal = state->admission(request, route)) {
        finish(writer, request, std::move(*refusal));
        return;
      }
    }
    if (!match.route) {
      if (!match.allowed.empty()) {
        std::string allow;
        for (const auto& method : match.allowed) {
          allow += (allow.empty() ? "" : ", ") + method;
        }
        auto response = Response::error(405, "method_not_allowed",
                                        request.method + " is not allowed here; allowed: " + allow);
        response.headers.emplace_back("Allow", allow);
        finish(writer, request, response);
      } else {
        finish(writer, request, Response::error(404, "not_found", "no such resource"));
      }
      return;
    }
    request.params = std::move(match.params);
    const Router::Route* target = match.route;
    if (target->dispatch == Dispatch::kInline) {
      finish(writer, request, runHandler(*target, request));
      return;
    }
    auto shared = std::make_shared<P::Http::ResponseWriter>(std::move(writer));
    // What the access log and the metrics need of a request answered without running its handler.
    Request summary;
    summary.method = request.method;
    summary.path = request.path;
    summary.remoteAddress = request.remoteAddress;
    auto job = [target, shared, finish, request = std::move(request)]() mutable {
      finish(*shared, request, runHandler(*target, request));
    };
    // Still queued when the drain timeout ends: answered at once and never run.
    auto refuse = [shared, finish, summary]() {
      auto response = Response::error(503, "draining", "the service is shutting down");
      response.headers.emplace_back("Connection", "close");
      finish(*shared, summary, response);
    };
    if (!state->workers->submit(std::move(job), std::move(refuse))) {
      finish(*shared, summary,
             Response::error(503, "overloaded", "too many requests are waiting; retry shortly"));
    }
  }

  // No request can crash the process: whatever a handler throws becomes a 500.
  static Response runHandler(const Router::Route& route, const Request& request) {
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      log::error("handler_failed",
                 {{"route", route.pattern}, {"method", request.method}, {"reason", e.what()}});
    } catch (...) {
      log::error("handler_failed", {{"route", route.pattern}, {"method", request.method}});
    }
    return Response::error(500, "internal_error", "the request could not be handled");
  }

  std::shared_ptr<HttpServer::State> state_;
};

}  // namespace

HttpServer::HttpServer(ServerOptions options, ServiceMetrics& metrics)
    : state_(std::make_shared<State>(std::move(options), metrics)) {}

HttpServer::~HttpServer() {
  drainAndStop();
}

void HttpServer::route(std::string method, const std::string& pattern, Handler handler, Dispatch dispatch) {
  state_->router.add(std::move(method), pattern, std::move(handler), dispatch);
}

void HttpServer::setReadiness(ReadinessCheck check) {
  state_->readiness = std::move(check);
}

void HttpServer::setAdmission(Admission admission) {
  state_->admission = std::move(admission);
}

bool HttpServer::start(std::string* error) {
  auto state = state_;
  // The built-in routes live in the state's router, so they hold a plain pointer: a shared_ptr there
  // would keep the state alive forever (a leak LeakSanitizer reports at exit).
  State* self = state.get();
  route(
      "GET", "/healthz",
      [](const Request&) {
        return Response::json(200, {{"status", "alive"}});
      },
      Dispatch::kInline);
  route(
      "GET", "/readyz",
      [self](const Request&) {
        if (self->draining) {
          return Response::error(503, "draining", "the service is shutting down");
        }
        std::string reason;
        if (self->readiness && !self->readiness(&reason)) {
          return Response::error(503, "not_ready", reason);
        }
        return Response::json(200, {{"status", "ready"}});
      },
      Dispatch::kWorker);
  route(
      "GET", "/metrics",
      [self](const Request&) {
        Response response;
        response.contentType = "text/plain; version=0.0.4; charset=utf-8";
        response.body = self->metrics.render();
        return response;
      },
      Dispatch::kInline);

  state->workers =
      std::make_unique<WorkerPool>(state->options.workerThreads, state->options.workerQueueLimit);
  try {
    P::Address address(state->options.bindAddress, P::Port(state->options.port));
    state->endpoint = std::make_unique<P::Http::Endpoint>(address);
    auto opts = P::Http::Endpoint::options()
                    .threads(state->options.reactorThreads)
                    .threadsName(state->options.service.substr(0, 8) + "-io")
                    .flags(P::Tcp::Options::ReuseAddr)
                    // Pistache's own limit sits above ours so that ours answers first, in JSON.
                    .maxRequestSize(state->options.maxRequestBytes + 4096)
                    .headerTimeout(state->options.headerTimeout)
                    .bodyTimeout(state->options.bodyTimeout)
                    .keepaliveTimeout(state->options.keepaliveTimeout);
    state->endpoint->init(opts);
    state->endpoint->setHandler(P::Http::make_handler<Adapter>(state));
    state->endpoint->serveThreaded();
  } catch (const std::exception& e) {
    *error = "cannot listen on " + state->options.bindAddress + ":" + std::to_string(state->options.port) +
             ": " + e.what();
    state->endpoint.reset();
    return false;
  }
  return true;
}

uint16_t HttpServer::port() const {
  return state_->endpoint ? static_cast<uint16_t>(state_->endpoint->getPort()) : 0;
}

void HttpServer::drainAndStop() {
  if (stopped_.exchange(true) || !state_->endpoint) {
    return;
  }
  state_->draining = true;
  if (!state_->workers->waitIdle(state_->options.drainTimeout)) {
    // Past the deadline nothing queued may start: each is answered 503 `draining` now. Handlers still
    // running are waited for; each is bounded by its own timeouts (database answer, upstream).
    const size_t refused = state_->workers->refuseQueued();
    log::warn("drain_timeout", {{"timeout_ms", state_->options.drainTimeout.count()}, {"refused", refused}});
    // Their answers go out before the endpoint closes; stop() below would wait for them anyway.
    state_->workers->waitIdle(state_->options.drainTimeout);
  }
  // Answers are queued to the reactor; give it a moment to put them on the wire.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  state_->endpoint->shutdown();
  state_->workers->stop();
  // The endpoint's handler holds the state; dropping the endpoint breaks that cycle.
  state_->endpoint.reset();
}

}  // namespace mp::http
