#include "http/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <system_error>

namespace mp {
namespace {

constexpr int kEventsPerTurn = 64;

Status epollFailed(const char* call, int fd, int error) {
  return Status::internal(std::string("epoll_ctl ") + call + " of descriptor " + std::to_string(fd) + ": " +
                          std::strerror(error));
}

std::string threadName(std::thread::id id) {
  std::ostringstream text;
  text << id;
  return text.str();
}

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

EventLoop::EventLoop() : epoll_(epoll_create1(EPOLL_CLOEXEC)), wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!epoll_.valid()) {
    throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  if (!wake_.valid()) {
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl add of the loop's eventfd");
  }
}

EventLoop::~EventLoop() = default;

Wait EventLoop::turn(bool readable) {
  claim("turn");
  return pass(readable ? Wait::now() : Wait::noLook());
}

void EventLoop::serve() {
  claim("serve");
  // The first turn only looks: it takes what was handed over before the thread started.
  Wait wait = Wait::now();
  while (!stopping_.load()) {
    wait = pass(wait);
  }
  onShutdown();
}

void EventLoop::end() {
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  onShutdown();
}

void EventLoop::stop() {
  stopping_.store(true);
  wake();
}

void EventLoop::wake() {
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

Wait EventLoop::pass(Wait wait) {
  epoll_event events[kEventsPerTurn];
  int ready = 0;
  if (wait.looks()) {
    ready = epoll_wait(epoll_.get(), events, kEventsPerTurn, wait.epollTimeout());
    if (ready < 0 && errno != EINTR) {
      // Only a bug makes epoll_wait fail on the loop's own set and buffer.
      std::perror("event loop: epoll_wait");
      std::abort();
    }
  }
  for (int i = 0; i < ready; ++i) {
    if (events[i].data.u64 == kWakeTag) {
      uint64_t count = 0;
      (void)!::read(wake_.get(), &count, sizeof count);
    } else {
      onReady(events[i].data.u64, events[i].events);
    }
  }
  return onTurn();
}

Status EventLoop::watch(int fd, uint32_t events, Tag tag) {
  requireOwnThread("watch");
  if (tag == kWakeTag) {
    return Status::internal("EventLoop::watch: the tag is the loop's own");
  }
  epoll_event event{};
  event.events = events;
  event.data.u64 = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return epollFailed("add", fd, errno);
  }
  return okStatus();
}

Status EventLoop::rewatch(int fd, uint32_t events, Tag tag) {
  requireOwnThread("rewatch");
  epoll_event event{};
  event.events = events;
  event.data.u64 = tag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event) == 0) {
    return okStatus();
  }
  if (errno != ENOENT) {
    return epollFailed("mod", fd, errno);
  }
  return watch(fd, events, tag);
}

Status EventLoop::unwatch(int fd) {
  requireOwnThread("unwatch");
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) == 0 || errno == EBADF || errno == ENOENT) {
    return okStatus();
  }
  return epollFailed("del", fd, errno);
}

void EventLoop::claim(const char* entry) {
  std::thread::id none;
  if (owner_.compare_exchange_strong(none, std::this_thread::get_id(), std::memory_order_relaxed)) {
    return;
  }
  requireOwnThread(entry);
}

void EventLoop::requireOwnThread(const char* entry) const {
  if (isThreadSafe()) {
    return;
  }
  std::fprintf(stderr, "event loop: %s on thread %s, but thread %s drives the loop\n", entry,
               threadName(std::this_thread::get_id()).c_str(),
               threadName(owner_.load(std::memory_order_relaxed)).c_str());
  std::abort();
}

}  // namespace mp
