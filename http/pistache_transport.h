#pragma once

#include <pistache/reactor.h>
#include <pistache/transport.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/hosted_loop.h"
#include "http/pistache_input.h"

namespace mp::http {

struct TransportSettings {
  std::chrono::milliseconds headerTimeout{10'000};     // from a request's first byte to its whole head
  std::chrono::milliseconds bodyTimeout{30'000};       // from a request's first byte to its whole body
  std::chrono::milliseconds keepaliveTimeout{75'000};  // idle between requests
  // The pieces each reactor thread drives beside its connections, by the reactor's index.
  std::vector<std::vector<HostedLoop*>> hosted;
};

class ReactorTransport;

// One connection's answers on their way out, in order: handed over from any thread
// (ReactorTransport::queueWrite) and written by the connection's reactor thread alone. Pistache's own
// write queue is never used: on a socket that is full (a client that stops reading) Pistache 0.0.5 retries
// at once, forever, and its reactor thread serves nothing else meanwhile (pistacheio/pistache#949).
class ConnectionWrites {
 public:
  ConnectionWrites(std::weak_ptr<Pistache::Tcp::Peer> peer, int fd, ReactorTransport* transport)
      : peer_(std::move(peer)), fd_(fd), transport_(transport) {}

  ReactorTransport* transport() const { return transport_; }

 private:
  friend class ReactorTransport;
  struct Piece {
    std::string bytes;
    size_t offset = 0;          // how much of it is written
    std::function<void()> out;  // runs once it is written or cannot be
  };

  std::weak_ptr<Pistache::Tcp::Peer> peer_;
  int fd_;
  ReactorTransport* transport_;
  std::mutex mutex_;
  std::deque<Piece> incoming_;  // guarded by mutex_
  bool posted_ = false;         // guarded by mutex_: the reactor has it to write (inbox or watched)
  std::deque<Piece> sending_;   // the reactor thread's: taken from incoming_, in order
  bool watched_ = false;        // the reactor thread's: waiting for the socket to take more
};

// One reactor thread's transport: Pistache 0.0.5's Tcp::Transport (the connections' reads and
// writes), plus what Http::Endpoint's own transport (private to Pistache) did, done our way, and the
// event loops that run on the same thread:
// - a request's head must arrive within headerTimeout and its body within bodyTimeout of its first
//   byte, or it is answered the JSON 408 `request_timeout` and the connection closed; a connection idle
//   longer than keepaliveTimeout, or that sent no byte within headerTimeout (of a check first seeing
//   it), is closed;
// - every answer's bytes are written here (ConnectionWrites): a socket that takes no more is watched for
//   room in an epoll set of the transport's own, so a stalled client holds up nothing but itself;
// - the thread drives its HostedLoops (TransportSettings::hosted): their work runs here, beside the
//   requests that gave it, and their answers go out before the thread next waits.
// Pistache clones the prototype once per reactor thread; each clone is used by its thread only.
class ReactorTransport : public Pistache::Tcp::Transport, public LoopHost {
 public:
  ReactorTransport(std::shared_ptr<StrictInputHandler> handler,
                   std::shared_ptr<const TransportSettings> settings, std::shared_ptr<size_t> clones);
  ~ReactorTransport() override;

  void registerPoller(Pistache::Polling::Epoll& poller) override;
  void onReady(const Pistache::Aio::FdSet& fds) override;
  std::shared_ptr<Pistache::Aio::Handler> clone() const override;

  void markPending(HostedLoop* piece) override;

  // Queues `bytes` for `writes`' connection after what is queued before them; any thread. `out` runs on this
  // transport's thread once they are written, or cannot be (the client is gone).
  void queueWrite(const std::shared_ptr<ConnectionWrites>& writes, std::string bytes,
                  std::function<void()> out);
  // The connection is going: what it still had to write is dropped (its callbacks run). This thread only.
  void forget(const std::shared_ptr<ConnectionWrites>& writes);

  // The index of the reactor thread that calls it, or nullopt on any other thread.
  static std::optional<size_t> currentIndex();

 private:
  void mark(HostedLoop* piece, bool readable);
  void turn(HostedLoop* piece, bool readable);
  void runPending();
  void runDue();
  void arm();
  void checkTimeouts();
  void closePeer(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  void takeInbox();
  void takeWritable();
  void drain(const std::shared_ptr<ConnectionWrites>& writes, bool dropAll = false);

  std::shared_ptr<StrictInputHandler> handler_;
  std::shared_ptr<const TransportSettings> settings_;
  std::shared_ptr<size_t> clones_;  // how many clones were made: the next one's index
  size_t index_ = 0;
  int timer_ = -1;  // a one-shot timerfd, set by arm()
  std::chrono::steady_clock::time_point armed_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point checkDue_ = std::chrono::steady_clock::time_point::max();
  int inbox_ = -1;  // an eventfd: inboxed_ has writes handed over by other threads
  std::mutex inboxMutex_;
  std::vector<std::shared_ptr<ConnectionWrites>> inboxed_;  // guarded by inboxMutex_
  int writable_ = -1;  // an epoll set of the sockets waiting for room, edge-triggered on EPOLLOUT
  std::unordered_map<ConnectionWrites*, std::shared_ptr<ConnectionWrites>> watching_;  // in writable_
  std::vector<HostedLoop*> hosted_;
  std::vector<std::chrono::steady_clock::time_point> due_;  // each piece's next turn for its deadlines
  bool claimed_ = false;  // the hosted loops have had their first turn on this thread
  std::vector<std::pair<HostedLoop*, bool>> pending_;  // to turn before the next wait; readable or not
  struct Closing {
    std::shared_ptr<Pistache::Tcp::Peer> peer;
    std::shared_ptr<bool> written;  // its 408 is out (or could not be written): close it now
  };
  std::vector<Closing> closing_;
  // Connections without a byte yet, by when a timeout check first saw them.
  std::unordered_map<const Pistache::Tcp::Peer*, std::chrono::steady_clock::time_point> fresh_;
};

}  // namespace mp::http
