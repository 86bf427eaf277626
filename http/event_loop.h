#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "http/hosted_loop.h"

namespace mp {

// A file descriptor, closed when its owner goes. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The skeleton of an epoll event loop, on a thread of its own (serve) or driven by a host (turn): it owns
// the epoll set and the eventfd that wakes it, registers descriptors with checked calls, and runs each
// turn as: the ready descriptors (onReady), then the loop's own work (onTurn). A subclass keeps only its
// protocol. Thread-bound: once a thread has turned it, every later turn and every (un)watch must come from
// that thread (isThreadSafe(), as in Envoy's dispatcher; a breach aborts: it is a bug, not an input);
// only wake(), stop() and isThreadSafe() are for any thread. Setup failures (no descriptor left for the
// epoll set or the eventfd) throw std::system_error, like the reactor's timer; later failures are Statuses.
class EventLoop : public HostedLoop {
 public:
  // What a subclass names a watched descriptor by, in onReady: any value but kWakeTag.
  using Tag = uint64_t;
  static constexpr Tag kWakeTag = UINT64_MAX;

  EventLoop();
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  int pollFd() const override { return epoll_.get(); }
  // One turn on the host's thread: a look without waiting when `readable`, else no look. Returns when
  // the loop next needs a turn for its deadlines (onTurn's answer).
  Wait turn(bool readable) override;
  // The loop on the calling thread, a thread of its own, until stop(); then onShutdown().
  void serve();
  // For a hosted loop whose host has stopped: the calling thread takes the loop over and ends it.
  void end();

  // From any thread.
  void stop();
  void wake();
  // Whether the calling thread is the one that drives the loop.
  bool isThreadSafe() const { return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

 protected:
  // Registers `fd` for `events` (level-triggered), named `tag`.
  Status watch(int fd, uint32_t events, Tag tag);
  // Changes what `fd` is watched for; registers it again when it is not (a closed descriptor leaves the
  // set by itself, and a new one may have its number).
  Status rewatch(int fd, uint32_t events, Tag tag);
  // Stops watching `fd`; a descriptor already closed (so no longer in the set) is not an error.
  Status unwatch(int fd);

  // A watched descriptor is ready: `events` are epoll's.
  virtual void onReady(Tag tag, uint32_t events) = 0;
  // The rest of a turn (what other threads handed over, deadlines, sends); returns how long serve() may
  // wait before the next turn.
  virtual Wait onTurn() = 0;
  // Ends whatever is left: nothing waits for an answer that will never come.
  virtual void onShutdown() = 0;

 private:
  Wait pass(Wait wait);
  // The calling thread drives the loop from now on, unless another already does (then: abort).
  void claim(const char* entry);
  void requireOwnThread(const char* entry) const;

  UniqueFd epoll_;
  UniqueFd wake_;
  std::atomic<std::thread::id> owner_{};
  std::atomic<bool> stopping_{false};
};

// What other threads hand to one event loop: items queued under a mutex, and the loop's wake-up written
// once per batch. Items put by the thread that drives the loop need no wake-up: the loop takes them
// before it next waits (its host is asked to turn it).
template <typename Item>
class Inbox {
 public:
  explicit Inbox(EventLoop& loop) : loop_(loop) {}
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // From any thread.
  void put(Item item) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      first = items_.empty();
      items_.push_back(std::move(item));
    }
    if (loop_.isThreadSafe()) {
      if (LoopHost* host = LoopHost::current()) {
        host->markPending(&loop_);
      }
      return;
    }
    // The loop takes every item queued by the time it reads its wake-up: one write per batch is enough.
    if (first) {
      loop_.wake();
    }
  }
  std::deque<Item> take() {
    std::deque<Item> taken;
    std::lock_guard<std::mutex> lock(mutex_);
    taken.swap(items_);
    return taken;
  }

 private:
  EventLoop& loop_;
  std::mutex mutex_;
  std::deque<Item> items_;  // guarded by mutex_
};

// Event loops of one kind that share one job (the connections of a pool), on threads of their own or
// driven by hosts. Loop is an EventLoop with an Inbox `inbox`.
template <typename Loop>
class LoopGroup {
 public:
  LoopGroup() = default;
  LoopGroup(const LoopGroup&) = delete;
  LoopGroup& operator=(const LoopGroup&) = delete;
  // Stops the loops' threads; hosted loops (whose hosts have stopped) are ended on this thread.
  ~LoopGroup() {
    for (auto& loop : loops_) {
      loop->stop();
    }
    for (auto& thread : threads_) {
      thread.join();
    }
    if (threads_.empty()) {
      for (auto& loop : loops_) {
        loop->end();
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

  // Hands `item` to pick()'s loop.
  template <typename Item>
  void put(Item item) {
    pick().inbox.put(std::move(item));
  }

  // The loop the calling thread drives, when it drives one (no hand-over between threads), else the
  // next in turn.
  Loop& pick() {
    for (auto& loop : loops_) {
      if (loop->isThreadSafe()) {
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
