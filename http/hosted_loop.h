#pragma once

#include <chrono>

namespace mp {

// How long one turn of an EventLoop waits for its descriptors: the one timeout rule of every loop. Made
// only by these names, so that no bare -1 means "for ever" in one place and "do not look" in another.
class Wait {
 public:
  // No epoll_wait at all: the host found the loop's descriptor not ready (HostedLoop::turn(false)).
  static Wait noLook() { return Wait(kNoLook, 0); }
  // Look at what is ready, without waiting.
  static Wait now() { return Wait(kFor, 0); }
  // Up to `limit` (a negative one is now()).
  static Wait atMost(std::chrono::milliseconds limit);
  // Until something is ready: the loop has no deadline.
  static Wait forever() { return Wait(kForever, 0); }

  bool looks() const { return kind_ != kNoLook; }
  // epoll_wait's timeout argument; only when looks().
  int epollTimeout() const { return kind_ == kForever ? -1 : milliseconds_; }
  bool operator==(const Wait& other) const {
    return kind_ == other.kind_ && milliseconds_ == other.milliseconds_;
  }

 private:
  enum Kind { kNoLook, kFor, kForever };
  Wait(Kind kind, int milliseconds) : kind_(kind), milliseconds_(milliseconds) {}
  Kind kind_;
  int milliseconds_;
};

// Work driven by an event loop it does not own, so that it runs on the thread that needs its results
// (an HTTP reactor thread: HttpServer::host) instead of a thread of its own. Its own epoll set, pollFd(),
// becomes readable whenever it has something to do, and turn() does that work without blocking. The
// host watches pollFd(), calls turn(true) when it is readable or when the Wait the last turn returned has
// run out (the piece's nearest deadline), and turn(false) when only marked (LoopHost::markPending): then
// nothing in the piece's epoll set needs a look (had something been ready, pollFd would have said so).
// A piece without deadlines (Wait::forever) is not turned until it has work: an idle server sleeps.
// turn() runs on the host's thread. EventLoop (event_loop.h) is the one such loop to build on.
class HostedLoop {
 public:
  virtual ~HostedLoop() = default;
  virtual int pollFd() const = 0;
  virtual Wait turn(bool readable) = 0;
};

// The loop that drives HostedLoops on the calling thread, while that thread runs it.
class LoopHost {
 public:
  virtual ~LoopHost() = default;
  // Asks for piece->turn() before the host next waits: work that the host's own thread handed to the
  // piece (no wake-up by pollFd is needed for it). Only from the host's thread.
  virtual void markPending(HostedLoop* piece) = 0;

  // The host of the calling thread, or null on a thread no host runs.
  static LoopHost* current();

 protected:
  static void setCurrent(LoopHost* host);
};

}  // namespace mp
