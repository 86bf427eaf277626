#include "common/pistache_input.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

#include "base/log.h"
#include "common/request_head.h"

namespace mp::http {

namespace P = Pistache;

// What the server remembers about one client connection between reads.
struct StrictInputHandler::ConnectionGuard {
  size_t pending = 0;       // bytes of the request being received
  size_t discarded = 0;     // bytes swallowed after an answered error
  bool discarding = false;  // the stream is no longer parsable: swallow until the client closes
  std::string head;         // the request's head so far, until checkRequestHead has seen all of it
  bool headChecked = false;
  size_t lineStart = 0;  // where the head's last, incomplete line starts (0: still the request line)
};

namespace {

constexpr const char* kGuardKey = "mp.guard";
// After an error answer, at most this much more input is swallowed before the socket is shut.
constexpr size_t kMaxDiscardBytes = 16u << 20;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
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

// The refusal of a request above `maxRequestBytes`.
Status tooLarge(size_t maxRequestBytes) {
  return Status::fromHttp(413, "payload_too_large",
                          "the request is larger than " + std::to_string(maxRequestBytes) + " bytes");
}

}  // namespace

// Pistache keeps only a map of query values; the request line's raw query is rebuilt from the
// resource it saw. Pistache does not percent-decode, so values are decoded here.
Status convert(const P::Http::Request& in, const std::shared_ptr<P::Tcp::Peer>& peer, Request* request) {
  Request& out = *request;
  out = Request();
  Status status;
  out.method = P::Http::methodString(in.method());
  out.path = in.resource();
  std::string raw;
  for (auto it = in.query().parameters_begin(); it != in.query().parameters_end(); ++it) {
    raw += (raw.empty() ? "" : "&") + it->first + (it->second.empty() ? "" : "=" + it->second);
  }
  out.rawQuery = raw;
  auto parsed = parseQuery(raw);
  if (!parsed) {
    status = Status::invalidArgument("the query string has a malformed %-escape");
  } else {
    out.query = std::move(*parsed);
  }
  // One stream per thread, reset per header: no stream (and its locale) is built per header
  // (docs/performance.md).
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
  return status;
}

// A response header of any name. Pistache 0.0.5 writes only typed headers (raw ones are dropped), so
// every header we send is one of these, except Connection, which Pistache itself acts on.
namespace {

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

// ThreadSanitizer cannot see how Pistache hands an answer to its reactor. ResponseWriter::send builds
// the answer's bytes on the calling thread (a worker's, or the gateway's upstream thread) and pushes them
// on a lock-free queue inside libpistache, which is not built with -fsanitize=thread; the reactor then
// copies and frees them. TSan sees the allocation and the later copy and free, but not the queue between
// them, and reports a race whose both accesses are Pistache's (a std::string copy of its own has no
// symbol there, so tsan.supp cannot name it). While one of these is alive, the memory accesses of this
// thread are not recorded; its synchronisation still is, and so is everything outside send().
#if defined(__SANITIZE_THREAD__)
extern "C" {
void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
}
class HandedToTheReactor {
 public:
  HandedToTheReactor() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~HandedToTheReactor() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
  HandedToTheReactor(const HandedToTheReactor&) = delete;
  HandedToTheReactor& operator=(const HandedToTheReactor&) = delete;
};
#else
struct HandedToTheReactor {};
#endif

}  // namespace

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
    [[maybe_unused]] HandedToTheReactor unseen;  // an empty struct outside the tsan build
    writer.send(static_cast<P::Http::Code>(response.status), response.body);
  } catch (const std::exception& e) {
    // The client went away before its answer: nothing left to tell it.
    log::debug("http_write_failed", {{"reason", e.what()}});
  }
}

void StrictInputHandler::onInput(const char* buffer, size_t len, const std::shared_ptr<P::Tcp::Peer>& peer) {
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
  if (guard->pending > maxRequestBytes_) {
    parser->reset();
    rejectStream(peer, *guard, tooLarge(maxRequestBytes_));
    return;
  }
  if (!guard->headChecked && !checkHead(peer, *guard, buffer, len)) {
    parser->reset();
    return;
  }
  if (!parser->feed(buffer, len)) {
    parser->reset();
    rejectStream(peer, *guard, tooLarge(maxRequestBytes_));
    return;
  }
  P::Http::Private::State parsed;
  try {
    parsed = parser->parse();
  } catch (const P::Http::HttpError& e) {
    parser->reset();
    rejectStream(peer, *guard,
                 Status::fromHttp(e.code() == 501 ? 501 : 400, "bad_request",
                                  std::string("malformed HTTP request: ") + e.reason()));
    return;
  } catch (const std::exception& e) {
    parser->reset();
    rejectStream(peer, *guard,
                 Status::fromHttp(400, "bad_request", std::string("malformed HTTP request: ") + e.what()));
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
  sink_->dispatch(request, std::move(writer), peer);
  parser->reset();
  peer->setIdle(true);
}

std::shared_ptr<StrictInputHandler::ConnectionGuard> StrictInputHandler::guardOf(
    const std::shared_ptr<P::Tcp::Peer>& peer) {
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
bool StrictInputHandler::checkHead(const std::shared_ptr<P::Tcp::Peer>& peer, ConnectionGuard& guard,
                                   const char* buffer, size_t len) {
  const size_t before = guard.head.size();
  guard.head.append(buffer, len);
  const char* newline = static_cast<const char*>(std::memchr(buffer, '\n', len));
  HeadLimits limits;
  limits.maxRequestBytes = maxRequestBytes_;
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
  if (Status rejection = checkRequestHead(guard.head, limits); !rejection.ok()) {
    rejectStream(peer, guard, rejection);
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
void StrictInputHandler::rejectStream(const std::shared_ptr<P::Tcp::Peer>& peer, ConnectionGuard& guard,
                                      const Status& rejection) {
  guard.discarding = true;
  auto response = Response::error(rejection);
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
  sink_->rejected(response.status);
  log::warn(
      "http_rejected",
      {{"status", response.status}, {"reason", rejection.message()}, {"remote", peer->address().host()}});
}

}  // namespace mp::http
