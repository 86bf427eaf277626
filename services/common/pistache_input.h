#pragma once

#include <pistache/http.h>
#include <pistache/peer.h>

#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"
#include "common/http.h"

namespace mp::http {

// Where the input side hands each complete request: with the writer that answers it and its peer.
// Called on a reactor thread; must not block.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void dispatch(const Pistache::Http::Request& request, Pistache::Http::ResponseWriter writer,
                        const std::shared_ptr<Pistache::Tcp::Peer>& peer) = 0;
  // A stream was answered `status` by the input side itself and the rest of it is being discarded.
  virtual void rejected(int status) = 0;
};

// Pistache 0.0.5's input path, replaced where it falls short: HTTP/1.1 is
// keep-alive unless the client says otherwise (Pistache closes), our strict head check (request_head.h)
// runs before Pistache parses, requests above maxRequestBytes are refused, and a stream that cannot be
// parsed further gets the JSON error of docs/openapi.yaml, after which the rest of it is swallowed.
// Copies share the sink (Pistache clones a handler per reactor thread); each runs on its reactor thread.
class StrictInputHandler : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(StrictInputHandler)

  StrictInputHandler(size_t maxRequestBytes, std::shared_ptr<RequestSink> sink)
      : maxRequestBytes_(maxRequestBytes), sink_(std::move(sink)) {}

  // Not used: onInput drives parsing and dispatch itself.
  void onRequest(const Pistache::Http::Request&, Pistache::Http::ResponseWriter) override {}
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;

 private:
  struct ConnectionGuard;
  std::shared_ptr<ConnectionGuard> guardOf(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  bool checkHead(const std::shared_ptr<Pistache::Tcp::Peer>& peer, ConnectionGuard& guard, const char* buffer,
                 size_t len);
  // `rejection` is a failed Status with the HTTP status and error code to answer (Response::error).
  void rejectStream(const std::shared_ptr<Pistache::Tcp::Peer>& peer, ConnectionGuard& guard,
                    const Status& rejection);

  size_t maxRequestBytes_;
  std::shared_ptr<RequestSink> sink_;
};

// Pistache's parsed request as ours in *out: query percent-decoded, header names lower-case, the peer's
// address. *out is filled in any case (a refused request is still counted and logged); a query string
// with a malformed %-escape is kInvalidArgument, with out->query left empty.
Status convert(const Pistache::Http::Request& in, const std::shared_ptr<Pistache::Tcp::Peer>& peer,
               Request* out);

// Sends `response` through Pistache's writer: headers of any name (Pistache 0.0.5 drops raw ones), a
// Connection header acted upon. A client already gone is logged at debug level, not thrown.
void writeResponse(Pistache::Http::ResponseWriter& writer, const Response& response);

}  // namespace mp::http
