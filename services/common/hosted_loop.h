#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace mp {

// Work driven by an event loop it does not own, so that it runs on the thread that needs its results
// (an HTTP reactor thread: HttpServer::host) instead of a thread of its own. Its own epoll set, pollFd(),
// becomes readable whenever it has something to do, and turn() does that work without blocking. The
// host watches pollFd(), calls turn(true) when it is readable and every tick of its timer (about 100 ms,
// for the piece's deadlines), and turn(false) when only marked (LoopHost::markPending): then nothing in
// the piece's epoll set needs a look (had something been ready, pollFd would have said so). turn() runs
// on the host's thread.
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

// What other threads hand to one event loop: items queued under a mutex, and an eventfd (fd(), which the
// loop watches in its epoll set) written once per batch. Items put by the thread that drives the loop need
// no wake-up: the loop takes them before it next waits (its host is asked to turn it).
template <typename Item>
class Inbox {
 public:
  Inbox() : wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Inbox() { close(wake_); }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  int fd() const { return wake_; }
  // The calling thread drives the loop from now on (its own thread, or its host's).
  void own() { owner_.store(std::this_thread::get_id(), std::memory_order_relaxed); }
  bool ownedByCaller() const { return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

  // From any thread; `loop` is the loop the inbox belongs to.
  void put(Item item, HostedLoop* loop) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      first = items_.empty();
      items_.push_back(std::move(item));
    }
    if (ownedByCaller()) {
      if (LoopHost* host = LoopHost::current()) {
        host->markPending(loop);
      }
      return;
    }
    // The loop takes every item queued by the time it reads the eventfd: one write per batch is enough.
    if (first) {
      wake();
    }
  }
  std::deque<Item> take() {
    std::deque<Item> taken;
    std::lock_guard<std::mutex> lock(mutex_);
    taken.swap(items_);
    return taken;
  }
  void wake() {
    uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }
  // After the eventfd was readable.
  void clearWake() {
    uint64_t count = 0;
    (void)!::read(wake_, &count, sizeof count);
  }

 private:
  int wake_;
  std::atomic<std::thread::id> owner_{};
  std::mutex mutex_;
  std::deque<Item> items_;  // guarded by mutex_
};

// Event loops of one kind that share one job (the connections of a pool), on threads of their own or
// driven by hosts. Loop is a HostedLoop with an Inbox `inbox`, `std::atomic<bool> stopping`, serve() (the
// loop on a thread of its own: until stopping, then shutdown()) and shutdown() (ends whatever is left).
template <typename Loop>
class LoopGroup {
 public:
  LoopGroup() = default;
  LoopGroup(const LoopGroup&) = delete;
  LoopGroup& operator=(const LoopGroup&) = delete;
  // Stops the loops' threads; hosted loops (whose hosts have stopped) are ended on this thread.
  ~LoopGroup() {
    for (auto& loop : loops_) {
      loop->stopping = true;
      loop->inbox.wake();
    }
    for (auto& thread : threads_) {
      thread.join();
    }
    if (threads_.empty()) {
      for (auto& loop : loops_) {
        loop->shutdown();
      }
    }
  }

  void add(std::unique_ptr<Loop> loop) { loops_.push_back(std::move(loop)); }
  // A thread for each loop, unless they are hosted.
  void start(bool hosted) {
    if (!hosted) {
      for (auto& loop : loops_) {
        threads_.emplace_back([loop = loop.get()] { loop->serve(); });
      }
    }
  }

  size_t size() const { return loops_.size(); }
  Loop& at(size_t index) { return *loops_.at(index); }
  std::vector<std::unique_ptr<Loop>>& all() { return loops_; }

  // Hands `item` to pick()'s loop.
  template <typename Item>
  void put(Item item) {
    Loop& loop = pick();
    loop.inbox.put(std::move(item), &loop);
  }

  // The loop the calling thread drives, when it drives one (no hand-over between threads), else the
  // next in turn.
  Loop& pick() {
    for (auto& loop : loops_) {
      if (loop->inbox.ownedByCaller()) {
        return *loop;
      }
    }
    return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
  }

 private:
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace mp
