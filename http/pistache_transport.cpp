#include "http/pistache_transport.h"

#include <sys/timerfd.h>
#include <unistd.h>

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
  if (timer_ >= 0) {
    close(timer_);
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
  for (const auto& entry : fds) {
    const auto tag = entry.getTag().value();
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
  if (timerFired) {
    armed_ = Clock::time_point::max();  // a one-shot: it has gone off
    runDue();
  }
  runPending();
  if (takeWritesQueuedHere()) {
    // Answers this turn gave that the sockets did not take at once were queued to this transport: written
    // now, not a turn later. Most are written whole by the turn itself (Responder), and then a flush would
    // only read the queue's eventfd to find it empty.
    flush();
  }
  for (auto it = closing_.begin(); it != closing_.end();) {
    if (!*it->written) {
      ++it;
      continue;
    }
    auto found = peers.find(it->peer->fd());
    if (found != peers.end() && found->second == it->peer) {
      removePeer(it->peer);
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
  if (peers.empty() && closing_.empty()) {
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
    removePeer(peer);
  }
  for (auto& [peer, why] : late) {
    auto written = std::make_shared<bool>(false);
    closing_.push_back({peer, written});
    handler_->reject(peer, why, [written] { *written = true; });
  }
}

}  // namespace mp::http
