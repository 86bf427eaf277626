#include "http/http_server.h"

#include <pistache/http.h>
#include <pistache/listener.h>
#include <pistache/peer.h>
#include <strings.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "base/log.h"
#include "http/pistache_input.h"
#include "http/pistache_transport.h"
#include "http/worker_pool.h"

namespace mp::http {

namespace P = Pistache;

struct HttpServer::State {
  ServerOptions options;
  ServiceMetrics& metrics;
  Router router;
  ReadinessCheck readiness;
  Admission admission;
  std::unique_ptr<WorkerPool> workers;
  std::vector<std::vector<HostedLoop*>> hosted;  // by reactor
  std::unique_ptr<P::Tcp::Listener> listener;
  std::atomic<bool> draining{false};
  std::mutex asyncMutex;
  std::condition_variable asyncIdle;
  size_t asyncInFlight = 0;  // guarded by asyncMutex: asynchronous handlers not answered yet

  State(ServerOptions o, ServiceMetrics& m) : options(std::move(o)), metrics(m) {}

  size_t reactors() const { return static_cast<size_t>(std::max(options.reactorThreads, 1)); }

  void asyncStarted() {
    std::lock_guard<std::mutex> lock(asyncMutex);
    ++asyncInFlight;
  }
  void asyncAnswered() {
    std::lock_guard<std::mutex> lock(asyncMutex);
    if (--asyncInFlight == 0) {
      asyncIdle.notify_all();
    }
  }
  bool waitAsyncIdle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(asyncMutex);
    return asyncIdle.wait_for(lock, timeout, [this] { return asyncInFlight == 0; });
  }
};

namespace {

using Clock = std::chrono::steady_clock;

void closeAfter(Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (strcasecmp(name.c_str(), "connection") == 0) {
      return;
    }
  }
  response.headers.emplace_back("Connection", "close");
}

// The dispatch of a complete request: draining, admission, routing, inline or on the worker pool, then
// the answer, its metrics and its access-log line. Shared by every reactor thread's input handler.
class Dispatcher : public RequestSink {
 public:
  explicit Dispatcher(std::shared_ptr<HttpServer::State> state) : state_(std::move(state)) {}

  void dispatch(const P::Http::Request& raw, Responder responder,
                const std::shared_ptr<P::Tcp::Peer>& peer) override {
    auto started = Clock::now();
    auto state = state_;
    state->metrics.inFlight().Increment();
    Request request;
    const Status converted = convert(raw, peer, &request);
    auto match = state->router.match(request.method, request.path);
    std::string route = match.route ? match.route->pattern : "unmatched";
    auto prepare = [state](Response& response) {
      if (state->draining) {
        // The client moves its next request elsewhere (kube-proxy already points new connections at
        // another pod): each kept-alive connection carries at most one request after the drain began.
        closeAfter(response);
      }
    };
    auto record = [state, started, route](const Request& req, int status) {
      double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      state->metrics.observeRequest(req.method, route, status, seconds);
      state->metrics.inFlight().Decrement();
      if (state->options.accessLog) {
        log::httpRequest(req.method, req.path, route, status, seconds * 1000, req.remoteAddress);
      }
    };
    auto finish = [prepare, record](const Responder& out, const Request& req, Response response) {
      prepare(response);
      out.send(response);
      record(req, response.status);
    };

    if (!converted.ok()) {
      finish(responder, request, Response::error(400, "bad_request", converted.message()));
      return;
    }
    if (state->admission) {
      if (Status admitted = state->admission(request, route); !admitted.ok()) {
        finish(responder, request, Response::error(admitted));
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
        finish(responder, request, response);
      } else {
        finish(responder, request, Response::error(404, "not_found", "no such resource"));
      }
      return;
    }
    request.params = std::move(match.params);
    const Router::Route* target = match.route;
    if (target->dispatch == Dispatch::kInline) {
      finish(responder, request, runHandler(*target, request));
      return;
    }
    // What the access log and the metrics need of a request answered without running its handler.
    Request summary;
    summary.method = request.method;
    summary.path = request.path;
    summary.remoteAddress = request.remoteAddress;
    if (target->streamHandler) {
      runStream(*target, std::move(request), responder, prepare,
                [record, summary](int status) { record(summary, status); });
      return;
    }
    if (target->dispatch == Dispatch::kAsync) {
      runAsync(*target, request, [responder, finish, summary = std::move(summary)](Response response) {
        finish(responder, summary, std::move(response));
      });
      return;
    }
    auto job = [target, responder, finish, request = std::move(request)]() mutable {
      finish(responder, request, runHandler(*target, request));
    };
    // Still queued when the drain timeout ends: answered at once and never run.
    auto refuse = [responder, finish, summary]() {
      finish(responder, summary, Response::error(503, "draining", "the service is shutting down"));
    };
    if (!state->workers->submit(std::move(job), std::move(refuse))) {
      finish(responder, summary,
             Response::error(503, "overloaded", "too many requests are waiting; retry shortly"));
    }
  }

  // Starts an asynchronous handler; `answer` runs once, for its reply or for a 500 when it throws first.
  void runAsync(const Router::Route& route, const Request& request, std::function<void(Response)> answer);
  // No request can crash the process: whatever a handler throws becomes a 500.
  static Response runHandler(const Router::Route& route, const Request& request);
  // Starts a streaming handler, on the worker pool or here (an asynchronous one); `recorded` runs once
  // its answer has ended.
  void runStream(const Router::Route& route, Request request, const Responder& responder,
                 std::function<void(Response&)> prepare, std::function<void(int)> recorded);

  void rejected(int status) override { state_->metrics.observeRequest("UNKNOWN", "unmatched", status, 0); }

 private:
  std::shared_ptr<HttpServer::State> state_;
};

// Starts an asynchronous handler; `answer` runs once, for its reply or for a 500 when it throws first.
void Dispatcher::runAsync(const Router::Route& route, const Request& request,
                          std::function<void(Response)> answer) {
  auto state = state_;
  auto replied = std::make_shared<std::atomic<bool>>(false);
  // `answer` holds the request's Responder. It is kept apart from the Reply's copies so that the one
  // reply drops it before the request counts as answered: nothing of the request outlives its answer,
  // however long a handler keeps its copy of the Reply (the Responder's hold on the connection is weak
  // anyway, so an answer after drainAndStop finds it gone).
  auto pending = std::make_shared<std::function<void(Response)>>(std::move(answer));
  state->asyncStarted();
  Reply reply = [state, replied, pending](Response response) {
    if (!replied->exchange(true)) {
      std::function<void(Response)> answerOnce = std::move(*pending);
      *pending = nullptr;
      answerOnce(std::move(response));
      answerOnce = nullptr;
      state->asyncAnswered();
    }
  };
  try {
    route.asyncHandler(request, reply);
    return;
  } catch (const std::exception& e) {
    log::error("handler_failed",
               {{"route", route.pattern}, {"method", request.method}, {"reason", e.what()}});
  } catch (...) {
    log::error("handler_failed", {{"route", route.pattern}, {"method", request.method}});
  }
  reply(Response::error(500, "internal_error", "the request could not be handled"));
}

void Dispatcher::runStream(const Router::Route& route, Request request, const Responder& responder,
                           std::function<void(Response&)> prepare, std::function<void(int)> recorded) {
  auto state = state_;
  const bool async = route.dispatch == Dispatch::kAsync;
  if (async) {
    state->asyncStarted();
  }
  auto answer = responder.stream(std::move(prepare), [state, async, recorded](int status) {
    recorded(status);
    if (async) {
      state->asyncAnswered();
    }
  });
  // Whatever the handler throws: a 500 when nothing went out yet, else the stream is cut.
  auto run = [target = &route, answer](const Request& req) {
    try {
      target->streamHandler(req, answer);
      return;
    } catch (const std::exception& e) {
      log::error("handler_failed",
                 {{"route", target->pattern}, {"method", req.method}, {"reason", e.what()}});
    } catch (...) {
      log::error("handler_failed", {{"route", target->pattern}, {"method", req.method}});
    }
    answer->abort();
  };
  if (async) {
    run(request);
    return;
  }
  // The job holds the answer until its handler returns: one it did not end is then ended (ResponseStream).
  auto job = [run, request = std::move(request)]() mutable { run(request); };
  auto refuse = [answer] { answer->send(Response::error(503, "draining", "the service is shutting down")); };
  if (!state->workers->submit(std::move(job), std::move(refuse))) {
    answer->send(Response::error(503, "overloaded", "too many requests are waiting; retry shortly"));
  }
}

// No request can crash the process: whatever a handler throws becomes a 500.
Response Dispatcher::runHandler(const Router::Route& route, const Request& request) {
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

}  // namespace

HttpServer::HttpServer(ServerOptions options, ServiceMetrics& metrics)
    : state_(std::make_shared<State>(std::move(options), metrics)) {}

HttpServer::~HttpServer() {
  drainAndStop();
}

void HttpServer::route(std::string method, const std::string& pattern, Handler handler, Dispatch dispatch) {
  state_->router.add(std::move(method), pattern, std::move(handler), dispatch);
}

void HttpServer::routeAsync(std::string method, const std::string& pattern, AsyncHandler handler) {
  state_->router.addAsync(std::move(method), pattern, std::move(handler));
}

void HttpServer::routeStream(std::string method, const std::string& pattern, StreamHandler handler,
                             Dispatch dispatch) {
  if (dispatch == Dispatch::kInline) {
    throw std::invalid_argument("HttpServer::routeStream: " + pattern +
                                " must run on a worker or be asynchronous");
  }
  state_->router.addStream(std::move(method), pattern, std::move(handler), dispatch);
}

void HttpServer::setReadiness(ReadinessCheck check) {
  state_->readiness = std::move(check);
}

void HttpServer::setAdmission(Admission admission) {
  state_->admission = std::move(admission);
}

void HttpServer::host(size_t reactor, HostedLoop& piece) {
  if (reactor >= state_->reactors()) {
    throw std::invalid_argument("HttpServer::host: reactor " + std::to_string(reactor) + " of " +
                                std::to_string(state_->options.reactorThreads));
  }
  state_->hosted.resize(state_->reactors());
  state_->hosted[reactor].push_back(&piece);
}

std::optional<size_t> HttpServer::currentReactor() {
  return ReactorTransport::currentIndex();
}

Status HttpServer::start() {
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
        if (self->readiness) {
          if (Status ready = self->readiness(); !ready.ok()) {
            return Response::error(503, "not_ready", ready.message());
          }
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
  auto settings = std::make_shared<TransportSettings>();
  settings->headerTimeout = state->options.headerTimeout;
  settings->bodyTimeout = state->options.bodyTimeout;
  settings->keepaliveTimeout = state->options.keepaliveTimeout;
  settings->hosted = state->hosted;
  try {
    P::Address address(state->options.bindAddress, P::Port(state->options.port));
    auto handler = std::make_shared<StrictInputHandler>(state->options.maxRequestBytes,
                                                        std::make_shared<Dispatcher>(state));
    // Pistache's own limit sits above ours so that ours answers first, in JSON.
    handler->setMaxRequestSize(state->options.maxRequestBytes + 4096);
    state->listener = std::make_unique<P::Tcp::Listener>(address);
    state->listener->init(state->reactors(), P::Flags<P::Tcp::Options>(P::Tcp::Options::ReuseAddr),
                          state->options.service.substr(0, 8) + "-io");
    state->listener->setHandler(handler);
    auto clones = std::make_shared<size_t>(0);
    state->listener->setTransportFactory([handler, settings, clones] {
      return std::make_shared<ReactorTransport>(handler, settings, clones);
    });
    state->listener->bind();
    state->listener->runThreaded();
  } catch (const std::exception& e) {
    state->listener.reset();
    return Status::unavailable("cannot listen on " + state->options.bindAddress + ":" +
                               std::to_string(state->options.port) + ": " + e.what());
  }
  return okStatus();
}

uint16_t HttpServer::port() const {
  return state_->listener ? static_cast<uint16_t>(state_->listener->getPort()) : 0;
}

void HttpServer::drainAndStop() {
  if (stopped_.exchange(true) || !state_->listener) {
    return;
  }
  state_->draining = true;
  if (!state_->workers->waitIdle(state_->options.drainTimeout)) {
    // Past the deadline nothing queued may start: each is answered 503 `draining` now. Handlers still
    // running are waited for; each is bounded by its own timeouts (database answer, upstream).
    const size_t refused = state_->workers->refuseQueued();
    log::warn("drain_timeout", {{"timeout_ms", state_->options.drainTimeout.count()}, {"refused", refused}});
    // Their answers go out before the listener closes; stop() below would wait for them anyway.
    state_->workers->waitIdle(state_->options.drainTimeout);
  }
  // Asynchronous handlers are bounded by their own timeouts too (the upstream's).
  if (!state_->waitAsyncIdle(state_->options.drainTimeout)) {
    log::warn("drain_timeout",
              {{"timeout_ms", state_->options.drainTimeout.count()}, {"asynchronous", true}});
  }
  // Answers are queued to the reactors; give them a moment to put them on the wire.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  state_->listener->shutdown();
  state_->workers->stop();
  // The listener's handler holds the state; dropping the listener breaks that cycle.
  state_->listener.reset();
}

}  // namespace mp::http
