#pragma once

#include <pistache/http.h>
#include <pistache/peer.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "http/http.h"
#include "http/router.h"

namespace mp::http {

class ConnectionWrites;

// Where one request's answer goes: its connection, and its request's HTTP version and keep-alive. A
// plain value, safe to copy to another thread; an answer for a connection already gone is dropped.
class Responder {
 public:
  struct Output;  // the connection's writes still queued to its reactor thread

  Responder(const std::shared_ptr<Pistache::Tcp::Peer>& peer, std::shared_ptr<Output> output,
            Pistache::Http::Version version, bool keepAlive);

  // Sends `response`: its headers of any name, Content-Type, Content-Length and Connection (the request's
  // keep-alive, unless the response sets its own). Written to the socket at once on the connection's
  // reactor thread when nothing is queued before it, else queued to that thread (ReactorTransport).
  void send(const Response& response) const;

  // The answer as a stream (router.h): `prepare` sees its head (or its whole Response) before it goes out,
  // and `done` runs once it has ended (sent, ended, aborted or dropped), with its status.
  std::shared_ptr<ResponseStream> stream(std::function<void(Response&)> prepare,
                                         std::function<void(int status)> done) const;

 private:
  std::weak_ptr<Pistache::Tcp::Peer> peer_;
  std::shared_ptr<Output> output_;
  Pistache::Http::Version version_;
  bool keepAlive_;
};

// Where the input side hands each complete request, with the responder that answers it and its peer.
// Called on a reactor thread; must not block.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void dispatch(const Pistache::Http::Request& request, Responder responder,
                        const std::shared_ptr<Pistache::Tcp::Peer>& peer) = 0;
  // A stream was answered `status` by the input side itself and the rest of it is being discarded.
  virtual void rejected(int status) = 0;
};

// Where a connection's input stands, and since when: for the transport's timeouts (pistache_transport.h).
struct InputProgress {
  enum class Phase {
    kIdle,        // between requests: since the last one was complete or its answer went out, if later
    kAnswering,   // a request is being answered (its handler at work, its answer being written): untimed
    kHead,        // a request's head is arriving: since its first byte
    kBody,        // its body is arriving: since its first byte
    kDiscarding,  // answered an error, its rest being swallowed: since the answer
  };
  Phase phase = Phase::kHead;
  std::chrono::steady_clock::time_point since;
};

// Pistache 0.0.5's input and output paths, replaced where they fall short: HTTP/1.1 is
// keep-alive unless the client says otherwise (Pistache closes), our strict head check (request_head.h)
// runs before Pistache parses, requests above maxRequestBytes are refused, and a stream that cannot be
// parsed further gets the JSON error of docs/openapi.yaml, after which the rest of it is swallowed; an
// answer is written by the reactor thread itself when it is the one that gives it (Responder), else
// handed to that thread (ReactorTransport::queueWrite); Pistache's write queue is never used.
// Copies share the sink (Pistache clones a handler per reactor thread); each runs on its reactor thread.
class StrictInputHandler : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(StrictInputHandler)

  StrictInputHandler(size_t maxRequestBytes, std::shared_ptr<RequestSink> sink)
      : maxRequestBytes_(maxRequestBytes), sink_(std::move(sink)) {}

  // Not used: onInput drives parsing and dispatch itself.
  void onRequest(const Pistache::Http::Request&, Pistache::Http::ResponseWriter) override {}
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  // What the connection still had to write is dropped, its callbacks run.
  void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;

  // nullopt for a connection that has not sent a byte yet.
  static std::optional<InputProgress> progress(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  // The connection's output queue; null before its first byte.
  static std::shared_ptr<ConnectionWrites> writesOf(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  // Answers `rejection` (Response::error, with Connection: close) to a stream that will not be read
  // further; `whenOut` runs once the answer is written (or cannot be).
  void reject(const std::shared_ptr<Pistache::Tcp::Peer>& peer, const Status& rejection,
              std::function<void()> whenOut);

 private:
  struct ConnectionGuard;
  std::shared_ptr<ConnectionGuard> guardOf(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  // The connection's guard if it has one yet (its first byte came), else null.
  static std::shared_ptr<ConnectionGuard> existingGuard(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  bool checkHead(const std::shared_ptr<Pistache::Tcp::Peer>& peer, ConnectionGuard& guard, const char* buffer,
                 size_t len);
  // `rejection` is a failed Status with the HTTP status and error code to answer (Response::error).
  void rejectStream(const std::shared_ptr<Pistache::Tcp::Peer>& peer, ConnectionGuard& guard,
                    const Status& rejection, std::function<void()> whenOut = nullptr);

  size_t maxRequestBytes_;
  std::shared_ptr<RequestSink> sink_;
};

// Pistache's parsed request as ours in *out: query percent-decoded, header names lower-case, the peer's
// address. *out is filled in any case (a refused request is still counted and logged); a query string
// with a malformed %-escape is kInvalidArgument, with out->query left empty.
Status convert(const Pistache::Http::Request& in, const std::shared_ptr<Pistache::Tcp::Peer>& peer,
               Request* out);

}  // namespace mp::http
