#include "http/pistache_transport.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "base/log.h"

namespace mp::http {

namespace P = Pistache;

namespace {

using Clock = std::chrono::steady_clock;

// While connections are open, their timeouts are checked this often.
constexpr auto kTimeoutCheck = std::chrono::milliseconds(500);

int makeTimer() {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("timerfd_create failed");
  }
  return fd;
}

// When a piece whose turn returned `wait` needs its next turn.
Clock::time_point dueAfter(Wait wait, Clock::time_point now) {
  if (wait.epollTimeout() < 0) {
    return Clock::time_point::max();
  }
  return now + std::chrono::milliseconds(wait.epollTimeout());
}

}  // namespace

ReactorTransport::ReactorTransport(std::shared_ptr<StrictInputHandler> handler,
                                   std::shared_ptr<const TransportSettings> settings,
                                   std::shared_ptr<size_t> clones)
    : P::Tcp::Transport(handler),
      handler_(std::move(handler)),
      settings_(std::move(settings)),
      clones_(std::move(clones)) {}

ReactorTransport::~ReactorTransport() {
  // Writes still waiting when the server stops are dropped unwritten: their callbacks hold the
  // connection's output, which holds its queue.
  std::vector<std::shared_ptr<ConnectionWrites>> left;
  for (const auto& [key, writes] : watching_) {
    left.push_back(writes);
  }
  {
    std::lock_guard<std::mutex> lock(inboxMutex_);
    left.insert(left.end(), inboxed_.begin(), inboxed_.end());
  }
  for (const auto& writes : left) {
    std::deque<ConnectionWrites::Piece> dropped;
    {
      std::lock_guard<std::mutex> lock(writes->mutex_);
      dropped.swap(writes->incoming_);
      writes->posted_ = false;
    }
    writes->sending_.clear();
  }
  for (int fd : {timer_, inbox_, writable_}) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

std::shared_ptr<P::Aio::Handler> ReactorTransport::clone() const {
  auto copy = std::make_shared<ReactorTransport>(
      std::static_pointer_cast<StrictInputHandler>(handler_->clone()), settings_, clones_);
  copy->index_ = (*clones_)++;
  return copy;
}

// Runs once per clone, on the thread that starts the listener, before the reactor threads serve.
void ReactorTransport::registerPoller(P::Polling::Epoll& poller) {
  P::Tcp::Transport::registerPoller(poller);
  timer_ = makeTimer();
  poller.addFd(timer_, P::Flags<P::Polling::NotifyOn>(P::Polling::NotifyOn::Read), P::Polling::Tag(timer_));
  if (index_ < settings_->hosted.size()) {
    hosted_ = settings_->hosted[index_];
  }
  // Due at once: the reactor's first turn claims its pieces for its thread and lets them start.
  due_.assign(hosted_.size(), Clock::now());
  arm();
  inbox_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  writable_ = epoll_create1(EPOLL_CLOEXEC);
  if (inbox_ < 0 || writable_ < 0) {
    throw std::runtime_error("eventfd or epoll_create1 failed");
  }
  for (int fd : {inbox_, writable_}) {
    poller.addFd(fd, P::Flags<P::Polling::NotifyOn>(P::Polling::NotifyOn::Read),
                 P::Polling::Tag(static_cast<uint64_t>(fd)));
  }
  for (HostedLoop* piece : hosted_) {
    poller.addFd(piece->pollFd(), P::Flags<P::Polling::NotifyOn>(P::Polling::NotifyOn::Read),
                 P::Polling::Tag(static_cast<uint64_t>(piece->pollFd())));
  }
}

void ReactorTransport::onReady(const P::Aio::FdSet& fds) {
  setCurrent(this);
  // The access lines of the requests answered in this turn go out in one write, as the turn ends.
  log::LineBatch lines;
  if (!claimed_) {
    // A loop learns the thread that drives it from its first turn: taken before any request of this
    // thread reaches it, so that none goes to another reactor's loop for want of knowing.
    claimed_ = true;
    for (HostedLoop* piece : hosted_) {
      turn(piece, true);
    }
  }
  bool timerFired = false;
  bool handedOver = false;
  bool writable = false;
  for (const auto& entry : fds) {
    const auto tag = entry.getTag().value();
    if (tag == static_cast<uint64_t>(inbox_)) {
      handedOver = true;
      continue;
    }
    if (tag == static_cast<uint64_t>(writable_)) {
      writable = true;
      continue;
    }
    if (tag == static_cast<uint64_t>(timer_)) {
      uint64_t expirations = 0;
      ssize_t got = ::read(timer_, &expirations, sizeof expirations);
      (void)got;
      timerFired = true;
      continue;
    }
    for (HostedLoop* piece : hosted_) {
      if (tag == static_cast<uint64_t>(piece->pollFd())) {
        mark(piece, true);
      }
    }
  }
  // Pistache's own: reads (and so requests dispatched, some handing work to the hosted loops), writes,
  // its queues. Tags it does not know (ours, readable) it passes over.
  P::Tcp::Transport::onReady(fds);
  if (writable) {
    takeWritable();
  }
  if (handedOver) {
    takeInbox();
  }
  if (timerFired) {
    armed_ = Clock::time_point::max();  // a one-shot: it has gone off
    runDue();
  }
  runPending();
  for (auto it = closing_.begin(); it != closing_.end();) {
    if (!*it->written) {
      ++it;
      continue;
    }
    auto found = peers.find(it->peer->fd());
    if (found != peers.end() && found->second == it->peer) {
      closePeer(it->peer);
    }
    it = closing_.erase(it);
  }
  arm();
}

// The pieces whose deadline has come are turned, and the connections' timeouts checked when due.
void ReactorTransport::runDue() {
  const auto now = Clock::now();
  for (size_t i = 0; i < hosted_.size(); ++i) {
    if (due_[i] <= now) {
      mark(hosted_[i], true);
    }
  }
  if (checkDue_ <= now) {
    checkDue_ = Clock::time_point::max();
    checkTimeouts();
  }
}

// The timer set to the nearest of the pieces' deadlines and, while connections are open, the next
// timeout check; unset when there is neither, so that an idle server is not woken at all.
void ReactorTransport::arm() {
  const auto now = Clock::now();
  if (peers.empty() && closing_.empty() && watching_.empty()) {
    checkDue_ = Clock::time_point::max();
  } else if (checkDue_ == Clock::time_point::max()) {
    checkDue_ = now + kTimeoutCheck;
  }
  Clock::time_point next = checkDue_;
  for (const auto& due : due_) {
    next = std::min(next, due);
  }
  if (next == armed_) {
    return;
  }
  armed_ = next;
  itimerspec spec{};  // all zero: unset
  if (next != Clock::time_point::max()) {
    // steady_clock is CLOCK_MONOTONIC; a time already past goes off at once (never all zero: that unsets).
    const auto since = std::max(next.time_since_epoch(), std::chrono::steady_clock::duration(1));
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
    spec.it_value.tv_sec = seconds.count();
    spec.it_value.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds).count();
  }
  timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void ReactorTransport::turn(HostedLoop* piece, bool readable) {
  const Wait wait = piece->turn(readable);
  const auto at = std::find(hosted_.begin(), hosted_.end(), piece);
  if (at != hosted_.end()) {
    due_[static_cast<size_t>(at - hosted_.begin())] = dueAfter(wait, Clock::now());
  }
}

void ReactorTransport::markPending(HostedLoop* piece) {
  mark(piece, false);
}

void ReactorTransport::mark(HostedLoop* piece, bool readable) {
  for (auto& [marked, look] : pending_) {
    if (marked == piece) {
      look = look || readable;
      return;
    }
  }
  pending_.emplace_back(piece, readable);
}

std::optional<size_t> ReactorTransport::currentIndex() {
  // The reactor threads are the only hosts.
  const auto* transport = dynamic_cast<const ReactorTransport*>(LoopHost::current());
  if (transport == nullptr) {
    return std::nullopt;
  }
  return transport->index_;
}

// A turn can hand more work to a piece (an answer's callback starting the next statement): taken in the
// same go, up to a bound that only a callback chain without end would reach (the rest then waits for the
// next readiness or timer).
void ReactorTransport::runPending() {
  for (int round = 0; round < 64 && !pending_.empty(); ++round) {
    std::vector<std::pair<HostedLoop*, bool>> now;
    now.swap(pending_);
    for (auto& [piece, readable] : now) {
      turn(piece, readable);
    }
  }
}

void ReactorTransport::checkTimeouts() {
  using Phase = InputProgress::Phase;
  const auto now = Clock::now();
  const TransportSettings& limits = *settings_;
  std::vector<std::shared_ptr<P::Tcp::Peer>> silent;
  std::vector<std::pair<std::shared_ptr<P::Tcp::Peer>, Status>> late;
  std::unordered_map<const P::Tcp::Peer*, Clock::time_point> fresh;
  for (const auto& [fd, peer] : peers) {
    if (std::any_of(closing_.begin(), closing_.end(), [&](const Closing& c) { return c.peer == peer; })) {
      continue;
    }
    const std::optional<InputProgress> progress = StrictInputHandler::progress(peer);
    if (!progress) {
      // Not a byte yet: timed from when a check first saw it.
      auto seen = fresh_.find(peer.get());
      const auto since = seen == fresh_.end() ? now : seen->second;
      if (now - since > limits.headerTimeout) {
        silent.push_back(peer);
      } else {
        fresh.emplace(peer.get(), since);
      }
      continue;
    }
    const auto elapsed = now - progress->since;
    auto lateAfter = [&](std::chrono::milliseconds limit, const char* what) {
      if (elapsed > limit) {
        late.emplace_back(peer, Status::fromHttp(408, "request_timeout",
                                                 std::string(what) + " did not arrive within " +
                                                     std::to_string(limit.count()) + " ms"));
      }
    };
    switch (progress->phase) {
      case Phase::kDiscarding:
        if (elapsed > limits.headerTimeout) {
          silent.push_back(peer);
        }
        break;
      case Phase::kIdle:
        if (elapsed > limits.keepaliveTimeout) {
          silent.push_back(peer);
        }
        break;
      case Phase::kAnswering:
        break;  // a long answer (a streamed list, a slow client) is not an idle connection
      case Phase::kHead:
        lateAfter(limits.headerTimeout, "the request's head");
        break;
      case Phase::kBody:
        lateAfter(limits.bodyTimeout, "the request");
        break;
    }
  }
  fresh_.swap(fresh);
  for (auto& peer : silent) {
    closePeer(peer);
  }
  // A watched connection that Pistache closed without telling (none should be) has its callbacks run.
  std::vector<std::shared_ptr<ConnectionWrites>> watched;
  for (const auto& [key, writes] : watching_) {
    if (writes->peer_.expired()) {
      watched.push_back(writes);
    }
  }
  for (const auto& writes : watched) {
    drain(writes);
  }
  for (auto& [peer, why] : late) {
    auto written = std::make_shared<bool>(false);
    closing_.push_back({peer, written});
    handler_->reject(peer, why, [written] { *written = true; });
  }
}

void ReactorTransport::closePeer(const std::shared_ptr<P::Tcp::Peer>& peer) {
  if (auto writes = StrictInputHandler::writesOf(peer)) {
    forget(writes);
  }
  removePeer(peer);
}

void ReactorTransport::queueWrite(const std::shared_ptr<ConnectionWrites>& writes, std::string bytes,
                                  std::function<void()> out) {
  {
    std::lock_guard<std::mutex> lock(writes->mutex_);
    writes->incoming_.push_back({std::move(bytes), 0, std::move(out)});
    if (writes->posted_) {
      return;  // the reactor will take it after what it has
    }
    writes->posted_ = true;
  }
  if (LoopHost::current() == this) {
    drain(writes);
    return;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(inboxMutex_);
    wake = inboxed_.empty();
    inboxed_.push_back(writes);
  }
  if (wake) {
    uint64_t one = 1;
    (void)!::write(inbox_, &one, sizeof one);
  }
}

void ReactorTransport::takeInbox() {
  uint64_t count = 0;
  (void)!::read(inbox_, &count, sizeof count);
  std::vector<std::shared_ptr<ConnectionWrites>> now;
  {
    std::lock_guard<std::mutex> lock(inboxMutex_);
    now.swap(inboxed_);
  }
  for (const auto& writes : now) {
    drain(writes);
  }
}

void ReactorTransport::takeWritable() {
  epoll_event events[64];
  for (;;) {
    const int n = epoll_wait(writable_, events, 64, 0);
    if (n <= 0) {
      return;
    }
    for (int i = 0; i < n; ++i) {
      auto found = watching_.find(static_cast<ConnectionWrites*>(events[i].data.ptr));
      if (found != watching_.end()) {
        auto writes = found->second;
        drain(writes);
      }
    }
    if (n < 64) {
      return;
    }
  }
}

void ReactorTransport::forget(const std::shared_ptr<ConnectionWrites>& writes) {
  drain(writes, true);
}

// Writes what `writes` has, in order, until the socket takes no more (then it is watched for room) or all
// is out (then it is not). The connection's socket is written only while it is still this peer's.
void ReactorTransport::drain(const std::shared_ptr<ConnectionWrites>& writes, bool dropAll) {
  auto peer = writes->peer_.lock();
  const auto found = peer ? peers.find(writes->fd_) : peers.end();
  const bool ours = found != peers.end() && found->second == peer;
  bool writing = ours && !dropAll;
  for (;;) {
    if (writes->sending_.empty()) {
      std::lock_guard<std::mutex> lock(writes->mutex_);
      if (writes->incoming_.empty()) {
        writes->posted_ = false;
        break;
      }
      writes->sending_.swap(writes->incoming_);
    }
    auto& piece = writes->sending_.front();
    if (writing && piece.offset < piece.bytes.size()) {
      const ssize_t sent = ::send(writes->fd_, piece.bytes.data() + piece.offset,
                                  piece.bytes.size() - piece.offset, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (writes->watched_) {
            return;
          }
          // Edge-triggered: told once when the socket has room again (or fails).
          epoll_event event{};
          event.events = EPOLLOUT | EPOLLET;
          event.data.ptr = writes.get();
          if (epoll_ctl(writable_, EPOLL_CTL_ADD, writes->fd_, &event) == 0) {
            writes->watched_ = true;
            watching_.emplace(writes.get(), writes);
            return;
          }
          log::warn("http_write_watch_failed", {{"errno", errno}});
        }
        writing = false;  // the client is gone (or cannot be watched): the rest is dropped
        continue;
      }
      piece.offset += static_cast<size_t>(sent);
      if (piece.offset < piece.bytes.size()) {
        continue;
      }
    }
    auto out = std::move(piece.out);
    writes->sending_.pop_front();
    if (out) {
      out();
    }
  }
  if (writes->watched_) {
    writes->watched_ = false;
    if (ours) {
      // A closed socket has left the set by itself; a reused number must not be taken out.
      epoll_ctl(writable_, EPOLL_CTL_DEL, writes->fd_, nullptr);
    }
    watching_.erase(writes.get());
  }
}

}  // namespace mp::http
