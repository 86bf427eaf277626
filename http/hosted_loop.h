#pragma once

namespace mp {

// Work driven by an event loop it does not own, so that it runs on the thread that needs its results
// (an HTTP reactor thread: HttpServer::host) instead of a thread of its own. Its own epoll set, pollFd(),
// becomes readable whenever it has something to do, and turn() does that work without blocking. The
// host watches pollFd(), calls turn(true) when it is readable and every tick of its timer (about 100 ms,
// for the piece's deadlines), and turn(false) when only marked (LoopHost::markPending): then nothing in
// the piece's epoll set needs a look (had something been ready, pollFd would have said so). turn() runs
// on the host's thread. EventLoop (event_loop.h) is the one such loop to build on.
class HostedLoop {
 public:
  virtual ~HostedLoop() = default;
  virtual int pollFd() const = 0;
  virtual void turn(bool readable) = 0;
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
