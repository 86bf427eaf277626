#include "http/pistache_input.h"

#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "base/log.h"
#include "http/pistache_transport.h"
#include "http/request_head.h"

namespace mp::http {

namespace P = Pistache;

// What the server remembers about one client connection between reads.
struct StrictInputHandler::ConnectionGuard {
  size_t pending = 0;    // bytes of the request being received
  size_t discarded = 0;  // bytes swallowed after an answered error
  std::string head;      // the request's head so far, until checkRequestHead has seen all of it
  bool headChecked = false;
  size_t lineStart = 0;  // where the head's last, incomplete line starts (0: still the request line)
  InputProgress progress{InputProgress::Phase::kHead, std::chrono::steady_clock::now()};
  std::shared_ptr<Responder::Output> output;
};

struct Responder::Output {
  std::thread::id reactor;                   // the connection's reactor thread: the one that reads it
  std::shared_ptr<ConnectionWrites> writes;  // its queue on the reactor thread (ReactorTransport)
  std::atomic<int> queued{0};                // writes queued there and not written yet
  std::atomic<size_t> unwritten{0};          // their bytes
  std::atomic<int> watchers{0};              // waiters and callbacks for unwritten to fall (ResponseStream)
  std::mutex mutex;                          // guards drained
  std::condition_variable fell;              // unwritten fell, for waitDrained
  std::vector<std::pair<size_t, std::function<void()>>> drained;  // whenDrained's: at most so many bytes
  // Requests handed to the sink and not yet answered to their end (a handler at work, a stream under way):
  // while there is one, or a write is queued, the connection is not idle (its keep-alive timeout waits).
  std::atomic<int> answering{0};
  // When the last answer was handed over or a queued write went out (steady clock ticks): where an idle
  // connection's keep-alive time starts, when that is after its last request arrived.
  std::atomic<std::chrono::steady_clock::rep> lastOut{0};

  void touched() { lastOut.store(std::chrono::steady_clock::now().time_since_epoch().count()); }
  // An answer is given whole (sent, ended or aborted): one request less at work.
  void answered() {
    touched();
    answering.fetch_sub(1);
  }

  // A queued write is out: wakes who waits for unwritten to fall, and runs the callbacks now due.
  void wrote(size_t bytes) {
    touched();
    unwritten.fetch_sub(bytes);
    queued.fetch_sub(1);
    if (watchers.load() == 0) {
      return;
    }
    std::vector<std::function<void()>> due;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const size_t left = unwritten.load();
      for (auto it = drained.begin(); it != drained.end();) {
        if (left <= it->first) {
          due.push_back(std::move(it->second));
          it = drained.erase(it);
          watchers.fetch_sub(1);
        } else {
          ++it;
        }
      }
      fell.notify_all();
    }
    for (auto& then : due) {
      then();
    }
  }
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

// How a response's body is framed: Content-Length (the whole body at hand), chunked transfer coding, or
// up to the connection's end (a stream to an HTTP/1.0 client).
enum class Framing { kLength, kChunked, kUntilClose };

// The whole response as bytes: status line, Content-Type, the response's headers, Connection (the
// request's keep-alive unless the response names its own), Content-Length (or Transfer-Encoding: chunked),
// body.
std::string serialize(const Response& response, P::Http::Version version, bool keepAlive,
                      Framing framing = Framing::kLength) {
  const char* reason = reasonPhrase(response.status);
  const size_t bodySize = framing == Framing::kLength ? response.body.size() : 0;
  size_t size = 96 + response.contentType.size() + bodySize;
  bool connectionNamed = false;
  for (const auto& [name, value] : response.headers) {
    size += name.size() + value.size() + 4;
    connectionNamed = connectionNamed || strcasecmp(name.c_str(), "connection") == 0;
  }
  std::string text;
  text.reserve(size);
  text += version == P::Http::Version::Http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  char number[24];
  auto end = std::to_chars(number, number + sizeof number, response.status).ptr;
  text.append(number, end);
  text += ' ';
  text += reason;
  text += "\r\nContent-Type: ";
  text += response.contentType;
  text += "\r\n";
  for (const auto& [name, value] : response.headers) {
    text += name;
    text += ": ";
    text += value;
    text += "\r\n";
  }
  if (!connectionNamed) {
    text += keepAlive ? "Connection: Keep-Alive\r\n" : "Connection: Close\r\n";
  }
  if (framing == Framing::kChunked) {
    text += "Transfer-Encoding: chunked\r\n\r\n";
    return text;
  }
  if (framing == Framing::kUntilClose) {
    text += "\r\n";
    return text;
  }
  text += "Content-Length: ";
  end = std::to_chars(number, number + sizeof number, response.body.size()).ptr;
  text.append(number, end);
  text += "\r\n\r\n";
  text += response.body;
  return text;
}

// Whether the response names its own Connection: close.
bool saysClose(const Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (strcasecmp(name.c_str(), "connection") == 0) {
      return strcasecmp(value.c_str(), "close") == 0;
    }
  }
  return false;
}

// Shuts the connection's write side once what is queued before is out: the client, which reads to the
// end, sees it end (a close would reset unread input).
std::function<void()> shutWritesOf(const std::weak_ptr<P::Tcp::Peer>& peer) {
  return [peer] {
    if (auto out = peer.lock()) {
      ::shutdown(out->fd(), SHUT_WR);
    }
  };
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

namespace {

// Writes `bytes` to the connection: at once on its reactor thread when nothing is queued before them,
// otherwise (or for what the socket did not take) through the connection's queue on that thread, in
// order. `whenOut` runs once they are written or cannot be.
void writeBytes(const std::shared_ptr<P::Tcp::Peer>& peer, const std::shared_ptr<Responder::Output>& output,
                std::string bytes, std::function<void()> whenOut = nullptr) {
  size_t offset = 0;
  if (output->reactor == std::this_thread::get_id() && output->queued.load(std::memory_order_acquire) == 0) {
    const ssize_t sent = ::send(peer->fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent == static_cast<ssize_t>(bytes.size()) || (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      // All out, or the client is gone (Pistache learns it from the socket's read side).
      if (whenOut) {
        whenOut();
      }
      return;
    }
    offset = sent > 0 ? static_cast<size_t>(sent) : 0;
  }
  if (offset > 0) {
    bytes.erase(0, offset);
  }
  const size_t length = bytes.size();
  output->unwritten.fetch_add(length);
  output->queued.fetch_add(1);
  auto written = [output, length, whenOut = std::move(whenOut)] {
    output->wrote(length);
    if (whenOut) {
      whenOut();
    }
  };
  if (!output->writes) {
    written();  // not served by a ReactorTransport: nowhere to queue
    return;
  }
  output->writes->transport()->queueWrite(output->writes, std::move(bytes), std::move(written));
}

}  // namespace

Responder::Responder(const std::shared_ptr<P::Tcp::Peer>& peer, std::shared_ptr<Output> output,
                     P::Http::Version version, bool keepAlive)
    : peer_(peer), output_(std::move(output)), version_(version), keepAlive_(keepAlive) {}

void Responder::send(const Response& response) const {
  output_->answered();
  auto peer = peer_.lock();
  if (!peer) {
    return;
  }
  std::function<void()> whenOut;
  if (!keepAlive_ || saysClose(response)) {
    // The answer said Connection: close, so the connection ends with it: the write side is shut once the
    // bytes are out.
    whenOut = shutWritesOf(peer_);
  }
  writeBytes(peer, output_, serialize(response, version_, keepAlive_), std::move(whenOut));
}

namespace {

// ResponseStream on a Pistache connection (router.h), for one request.
class StreamAnswer : public ResponseStream {
 public:
  StreamAnswer(std::weak_ptr<P::Tcp::Peer> peer, std::shared_ptr<Responder::Output> output,
               P::Http::Version version, bool keepAlive, Responder responder,
               std::function<void(Response&)> prepare, std::function<void(int)> done)
      : peer_(std::move(peer)),
        output_(std::move(output)),
        version_(version),
        keepAlive_(keepAlive),
        responder_(std::move(responder)),
        prepare_(std::move(prepare)),
        done_(std::move(done)) {}

  ~StreamAnswer() override {
    if (!ended_.load()) {
      if (begun_.load()) {
        abort();
      } else {
        send(Response::error(500, "internal_error", "the request could not be handled"));
      }
    }
  }

  void send(Response response) override {
    if (begun_.load() || ended_.exchange(true)) {
      return;
    }
    prepare_(response);
    responder_.send(response);
    finish(response.status);
  }

  void begin(const Response& head) override {
    if (ended_.load() || begun_.exchange(true)) {
      return;
    }
    Response prepared = head;
    prepare_(prepared);
    status_ = prepared.status;
    chunked_ = version_ == P::Http::Version::Http11;
    closeAfter_ = !keepAlive_ || !chunked_ || saysClose(prepared);
    auto peer = peer_.lock();
    if (!peer) {
      return;
    }
    Response headOnly = prepared;
    headOnly.body.clear();
    if (!chunked_) {
      headOnly.headers.emplace_back("Connection", "close");
    }
    writeBytes(
        peer, output_,
        serialize(headOnly, version_, !closeAfter_, chunked_ ? Framing::kChunked : Framing::kUntilClose));
  }

  void write(std::string_view piece) override {
    if (!begun_.load() || ended_.load() || piece.empty()) {
      return;
    }
    auto peer = peer_.lock();
    if (!peer) {
      return;
    }
    std::string bytes;
    if (chunked_) {
      char size[24];
      auto end = std::to_chars(size, size + sizeof size, piece.size(), 16).ptr;
      bytes.reserve(piece.size() + 24);
      bytes.append(size, end);
      bytes += "\r\n";
      bytes += piece;
      bytes += "\r\n";
    } else {
      bytes.assign(piece);
    }
    writeBytes(peer, output_, std::move(bytes));
  }

  void end() override {
    if (!begun_.load() || ended_.exchange(true)) {
      return;
    }
    output_->answered();
    if (auto peer = peer_.lock()) {
      std::function<void()> whenOut;
      if (closeAfter_) {
        whenOut = shutWritesOf(peer_);
      }
      if (chunked_) {
        writeBytes(peer, output_, "0\r\n\r\n", std::move(whenOut));
      } else if (whenOut) {
        whenOut();
      }
    }
    finish(status_);
  }

  void abort() override {
    if (!begun_.load()) {
      send(Response::error(500, "internal_error", "the request could not be handled"));
      return;
    }
    if (ended_.exchange(true)) {
      return;
    }
    output_->answered();
    if (auto peer = peer_.lock()) {
      // At once, not after what is queued: no byte more goes out, and never the last chunk.
      ::shutdown(peer->fd(), SHUT_RDWR);
    }
    log::warn("http_stream_aborted", {{"status", status_}});
    finish(status_);
  }

  bool begun() const override { return begun_.load(); }
  bool gone() const override { return peer_.expired(); }
  size_t unwritten() const override { return output_->unwritten.load(); }

  void whenDrained(size_t bytes, std::function<void()> then) override {
    {
      std::lock_guard<std::mutex> lock(output_->mutex);
      if (output_->unwritten.load() > bytes && !gone()) {
        output_->watchers.fetch_add(1);
        // Checked again after registering: a write that completed meanwhile may not have seen it.
        if (output_->unwritten.load() > bytes) {
          output_->drained.emplace_back(bytes, std::move(then));
          return;
        }
        output_->watchers.fetch_sub(1);
      }
    }
    then();
  }

  bool waitDrained(size_t bytes, std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    output_->watchers.fetch_add(1);
    std::unique_lock<std::mutex> lock(output_->mutex);
    bool ok = true;
    while (output_->unwritten.load() > bytes) {
      // In slices: a client that went away wakes nobody.
      if (gone() || std::chrono::steady_clock::now() >= deadline) {
        ok = false;
        break;
      }
      output_->fell.wait_for(lock, std::chrono::milliseconds(100));
    }
    lock.unlock();
    output_->watchers.fetch_sub(1);
    return ok && !gone();
  }

 private:
  void finish(int status) {
    if (auto done = std::move(done_)) {
      done_ = nullptr;
      done(status);
    }
  }

  std::weak_ptr<P::Tcp::Peer> peer_;
  std::shared_ptr<Responder::Output> output_;
  P::Http::Version version_;
  bool keepAlive_;
  Responder responder_;
  std::function<void(Response&)> prepare_;
  std::function<void(int)> done_;
  std::atomic<bool> begun_{false};
  std::atomic<bool> ended_{false};
  int status_ = 200;
  bool chunked_ = true;
  bool closeAfter_ = false;
};

}  // namespace

std::shared_ptr<ResponseStream> Responder::stream(std::function<void(Response&)> prepare,
                                                  std::function<void(int status)> done) const {
  return std::make_shared<StreamAnswer>(peer_, output_, version_, keepAlive_, *this, std::move(prepare),
                                        std::move(done));
}

std::optional<InputProgress> StrictInputHandler::progress(const std::shared_ptr<P::Tcp::Peer>& peer) {
  auto found = existingGuard(peer);
  if (!found) {
    return std::nullopt;
  }
  const ConnectionGuard& guard = *found;
  InputProgress progress = guard.progress;
  if (progress.phase == InputProgress::Phase::kIdle) {
    const Responder::Output& output = *guard.output;
    if (output.answering.load() > 0 || output.queued.load() > 0) {
      progress.phase = InputProgress::Phase::kAnswering;
    } else {
      progress.since = std::max(
          progress.since,
          std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(output.lastOut.load())));
    }
  }
  return progress;
}

std::shared_ptr<ConnectionWrites> StrictInputHandler::writesOf(const std::shared_ptr<P::Tcp::Peer>& peer) {
  auto guard = existingGuard(peer);
  return guard ? guard->output->writes : nullptr;
}

void StrictInputHandler::onDisconnection(const std::shared_ptr<P::Tcp::Peer>& peer) {
  if (auto writes = writesOf(peer)) {
    writes->transport()->forget(writes);
  }
}

void StrictInputHandler::reject(const std::shared_ptr<P::Tcp::Peer>& peer, const Status& rejection,
                                std::function<void()> whenOut) {
  getParser(peer)->reset();
  rejectStream(peer, *guardOf(peer), rejection, std::move(whenOut));
}

void StrictInputHandler::onInput(const char* buffer, size_t len, const std::shared_ptr<P::Tcp::Peer>& peer) {
  auto guard = guardOf(peer);
  // The stream is no longer parsable: swallowed until the client closes.
  if (guard->progress.phase == InputProgress::Phase::kDiscarding) {
    guard->discarded += len;
    if (guard->discarded > kMaxDiscardBytes) {
      ::shutdown(peer->fd(), SHUT_RDWR);
    }
    return;
  }
  peer->setIdle(false);
  auto parser = getParser(peer);
  if (guard->pending == 0) {
    guard->progress = {InputProgress::Phase::kHead, std::chrono::steady_clock::now()};
  }
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
  guard->progress = {InputProgress::Phase::kIdle, std::chrono::steady_clock::now()};
  guard->output->answering.fetch_add(1);
  auto& request = parser->request;
  bool keepAlive = request.version() == P::Http::Version::Http11;
  if (auto connection = request.headers().tryGet<P::Http::Header::Connection>()) {
    keepAlive = connection->control() == P::Http::ConnectionControl::KeepAlive;
  }
  sink_->dispatch(request, Responder(peer, guard->output, request.version(), keepAlive), peer);
  parser->reset();
  peer->setIdle(true);
}

std::shared_ptr<StrictInputHandler::ConnectionGuard> StrictInputHandler::existingGuard(
    const std::shared_ptr<P::Tcp::Peer>& peer) {
  return std::static_pointer_cast<ConnectionGuard>(peer->tryGetData(kGuardKey));
}

std::shared_ptr<StrictInputHandler::ConnectionGuard> StrictInputHandler::guardOf(
    const std::shared_ptr<P::Tcp::Peer>& peer) {
  if (auto guard = existingGuard(peer)) {
    return guard;
  }
  auto guard = std::make_shared<ConnectionGuard>();
  guard->output = std::make_shared<Responder::Output>();
  guard->output->reactor = std::this_thread::get_id();  // guards are made by the reactor, on input
  if (auto* transport = dynamic_cast<ReactorTransport*>(LoopHost::current())) {
    guard->output->writes = std::make_shared<ConnectionWrites>(peer, peer->fd(), transport);
  }
  peer->putData(kGuardKey, guard);
  return guard;
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
    guard.progress.phase = InputProgress::Phase::kBody;
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
                                      const Status& rejection, std::function<void()> whenOut) {
  guard.progress = {InputProgress::Phase::kDiscarding, std::chrono::steady_clock::now()};
  auto response = Response::error(rejection);
  sink_->rejected(response.status);
  log::warn(
      "http_rejected",
      {{"status", response.status}, {"reason", rejection.message()}, {"remote", peer->address().host()}});
  // In order with earlier answers on the connection.
  writeBytes(peer, guard.output, serialize(response, P::Http::Version::Http11, false), std::move(whenOut));
}

}  // namespace mp::http
