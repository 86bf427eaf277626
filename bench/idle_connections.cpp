// idle-connections HOST PORT COUNT PATH: opens COUNT HTTP/1.1 keep-alive connections to HOST:PORT (an IPv4
// address), sends one `GET PATH` on each and reads its answer, then holds them all idle until standard
// input reaches end of file. Prints, once every connection has been answered (or after 120 s):
//   idle-connections opened=N answered=N failed=N seconds=S
// and at the end, just before closing them:
//   idle-connections still_open=N
// (connections the server had not closed meanwhile). Raises its own open-file limit to the hard limit.
// At most 64 connects are in flight at a time, so a server's listen backlog is not overrun.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kConnectsInFlight = 64;
constexpr auto kOpenDeadline = std::chrono::seconds(120);

// One held connection: its socket and what it has read of the single answer.
struct Connection {
  int fd = -1;
  bool sent = false;
  bool answered = false;
  std::string received;
};

// Whether `received` holds a whole HTTP answer: the header block and Content-Length bytes of body.
bool wholeAnswer(const std::string& received) {
  const auto end = received.find("\r\n\r\n");
  if (end == std::string::npos) {
    return false;
  }
  size_t length = 0;
  for (const char* name : {"Content-Length:", "content-length:"}) {
    const auto at = received.find(name);
    if (at != std::string::npos && at < end) {
      length = std::strtoul(received.c_str() + at + std::strlen(name), nullptr, 10);
    }
  }
  return received.size() >= end + 4 + length;
}

void raiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Whether the peer has closed `fd`: readable with nothing to read (or an error).
bool closedByPeer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) {
    return false;
  }
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: idle-connections HOST PORT COUNT PATH\n");
    return 2;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
    std::fprintf(stderr, "idle-connections: %s is not an IPv4 address\n", argv[1]);
    return 2;
  }
  const long count = std::atol(argv[3]);
  const std::string request =
      std::string("GET ") + argv[4] + " HTTP/1.1\r\nHost: " + argv[1] + "\r\nConnection: keep-alive\r\n\r\n";
  raiseOpenFileLimit();

  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) {
    std::perror("idle-connections: epoll_create1");
    return 1;
  }
  std::vector<Connection> connections(static_cast<size_t>(count));
  const auto started = std::chrono::steady_clock::now();
  long next = 0, inFlight = 0, answered = 0, failed = 0;
  auto fail = [&](Connection& c) {
    epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    ++failed;
    --inFlight;
  };
  while (answered + failed < count && std::chrono::steady_clock::now() - started < kOpenDeadline) {
    while (next < count && inFlight < kConnectsInFlight) {
      Connection& c = connections[static_cast<size_t>(next)];
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      epoll_event event{};
      event.events = EPOLLOUT | EPOLLIN;
      event.data.u64 = static_cast<uint64_t>(next);
      ++next;
      ++inFlight;
      if (c.fd < 0) {
        std::perror("idle-connections: socket");
        ++failed;
        --inFlight;
        continue;
      }
      if ((connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
           errno != EINPROGRESS) ||
          epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &event) != 0) {
        fail(c);
      }
    }
    epoll_event events[256];
    const int ready = epoll_wait(epoll, events, 256, 100);
    for (int i = 0; i < ready; ++i) {
      Connection& c = connections[events[i].data.u64];
      if (c.fd < 0 || c.answered) {
        continue;
      }
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        fail(c);
        continue;
      }
      if (!c.sent && (events[i].events & EPOLLOUT)) {
        // One small request: a nonblocking send of it either goes whole or the connection is unusable.
        if (send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(request.size())) {
          fail(c);
          continue;
        }
        c.sent = true;
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = events[i].data.u64;
        epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &event);
      }
      if (events[i].events & EPOLLIN) {
        char buffer[4096];
        const ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n <= 0) {
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            fail(c);
          }
          continue;
        }
        c.received.append(buffer, static_cast<size_t>(n));
        if (wholeAnswer(c.received)) {
          // Held from here on: no longer watched, so an idle connection costs this process nothing.
          epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
          c.answered = true;
          c.received = std::string();
          ++answered;
          --inFlight;
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("idle-connections opened=%ld answered=%ld failed=%ld seconds=%.3f\n", next, answered,
              count - answered, seconds);
  std::fflush(stdout);

  char buffer[256];
  while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
  }
  long stillOpen = 0;
  for (const Connection& c : connections) {
    if (c.fd >= 0 && c.answered && !closedByPeer(c.fd)) {
      ++stillOpen;
    }
  }
  std::printf("idle-connections still_open=%ld\n", stillOpen);
  return 0;
}
