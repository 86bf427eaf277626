// open-loop: an HTTP/1.1 load generator that offers a fixed rate whatever the answers take (issue 29).
//   open-loop [-c CONNECTIONS] [-w WARMUP_S] [-m METHOD] [-b BODY] [-i IDS] [--from-send]
//             HOST PORT PATH RATE SECONDS
// The k-th request falls due at start + k / RATE; it goes out on the first free one of CONNECTIONS
// keep-alive connections (64; one request in flight on each), and its latency runs from the time it was
// due, so a stall of the server counts in full for every request it held up (coordinated omission), also
// for those that waited for a free connection. --from-send measures from the send instead, as a closed
// loop would (tests/bench shows the difference). -i IDS appends a random id 1..IDS to PATH; -b sends BODY
// as application/json. The first WARMUP_S seconds (0) run at the same rate and are not counted. Prints:
//   open-loop offered=R achieved=R due=N answered=N non2xx=N errors=N p50_us=T p99_us=T p999_us=T max_us=T
// achieved: the measured requests sent by the window's end over its length (below the offered rate when the
// generator, or the server holding every connection, falls behind); errors: requests lost with a
// connection or still unanswered 2 s after the schedule ended. Every latency is kept: the percentiles are
// exact.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;
constexpr auto kDrain = std::chrono::seconds(2);

struct Options {
  int connections = 64;
  double warmupSeconds = 0;
  std::string method = "GET";
  std::string body;
  long ids = 0;
  bool fromSend = false;
  std::string host, path;
  int port = 0;
  double rate = 0, seconds = 0;
};

// One keep-alive connection with at most one request in flight.
struct Connection {
  int fd = -1;
  bool busy = false;
  bool counted = false;     // the request in flight is in the measured window
  Clock::time_point start;  // when its latency began: due, or sent with --from-send
  std::string received;
};

// What a whole answer at the head of `received` is: its status and length, or length 0 while incomplete.
struct Answer {
  int status = 0;
  size_t length = 0;
  bool close = false;
  bool malformed = false;
};

// Finds `name` (lower case, with its colon) among the header lines in [0, end), case-insensitively.
size_t findHeader(const std::string& head, size_t end, const char* name) {
  const size_t n = std::strlen(name);
  for (size_t at = head.find("\r\n"); at != std::string::npos && at < end; at = head.find("\r\n", at + 2)) {
    if (at + 2 + n <= end && strncasecmp(head.c_str() + at + 2, name, n) == 0) {
      return at + 2 + n;
    }
  }
  return std::string::npos;
}

Answer parseAnswer(const std::string& received) {
  Answer answer;
  const size_t end = received.find("\r\n\r\n");
  if (end == std::string::npos) {
    return answer;
  }
  const size_t length = findHeader(received, end, "content-length:");
  if (received.compare(0, 9, "HTTP/1.1 ") != 0 || length == std::string::npos) {
    answer.malformed = true;  // chunked answers are not needed by bench/run
    return answer;
  }
  const size_t total = end + 4 + std::strtoul(received.c_str() + length, nullptr, 10);
  if (received.size() >= total) {
    answer.status = std::atoi(received.c_str() + 9);
    answer.length = total;
    const size_t connection = findHeader(received, end, "connection:");
    answer.close =
        connection != std::string::npos &&
        strncasecmp(received.c_str() + connection + std::strspn(received.c_str() + connection, " "), "close",
                    5) == 0;
  }
  return answer;
}

int connectTo(const Options& options, int epoll, int index) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  if (fd < 0 || inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("open-loop: connect");
    if (fd >= 0) {
      close(fd);
    }
    return -1;
  }
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u32 = static_cast<uint32_t>(index);
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
    std::perror("open-loop: epoll_ctl");
    close(fd);
    return -1;
  }
  return fd;
}

// The request line and headers up to the path's end, and the rest after it.
std::string requestTail(const Options& options) {
  std::string tail = " HTTP/1.1\r\nHost: " + options.host + ":" + std::to_string(options.port) + "\r\n";
  if (!options.body.empty()) {
    tail +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(options.body.size()) + "\r\n";
  }
  return tail + "\r\n" + options.body;
}

bool parseOptions(int argc, char** argv, Options& options) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool hasValue = i + 1 < argc;
    if (arg == "--from-send") {
      options.fromSend = true;
    } else if (arg == "-c" && hasValue) {
      options.connections = std::atoi(argv[++i]);
    } else if (arg == "-w" && hasValue) {
      options.warmupSeconds = std::atof(argv[++i]);
    } else if (arg == "-m" && hasValue) {
      options.method = argv[++i];
    } else if (arg == "-b" && hasValue) {
      options.body = argv[++i];
    } else if (arg == "-i" && hasValue) {
      options.ids = std::atol(argv[++i]);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 5) {
    return false;
  }
  options.host = positional[0];
  options.port = std::atoi(positional[1].c_str());
  options.path = positional[2];
  options.rate = std::atof(positional[3].c_str());
  options.seconds = std::atof(positional[4].c_str());
  return options.port > 0 && options.rate > 0 && options.seconds > 0 && options.connections > 0;
}

long long percentileUs(const std::vector<long long>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1] / 1000;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parseOptions(argc, argv, options)) {
    std::fprintf(
        stderr,
        "usage: open-loop [-c CONNECTIONS] [-w WARMUP_S] [-m METHOD] [-b BODY] [-i IDS] [--from-send] "
        "HOST PORT PATH RATE SECONDS\n");
    return 2;
  }
  // The kernel's default timer slack (50 µs) would send late at every wait.
  prctl(PR_SET_TIMERSLACK, 1UL);
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Connection> connections(options.connections);
  std::vector<int> idle;
  for (int i = options.connections - 1; i >= 0; --i) {
    connections[i].fd = connectTo(options, epoll, i);
    if (connections[i].fd < 0) {
      return 1;
    }
    idle.push_back(i);
  }

  const std::string head = options.method + " " + options.path, tail = requestTail(options);
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<long> id(1, std::max(options.ids, 1L));
  const auto warmup = static_cast<long long>(options.warmupSeconds * options.rate);
  const auto total = warmup + static_cast<long long>(options.seconds * options.rate);
  const Clock::time_point start = Clock::now();
  const auto dueAt = [&](long long k) {
    return start + nanoseconds(static_cast<long long>(static_cast<double>(k) * 1e9 / options.rate));
  };
  const Clock::time_point windowStart = dueAt(warmup), windowEnd = dueAt(total),
                          deadline = windowEnd + kDrain;

  long long next = 0, inFlight = 0, sentInWindow = 0, answered = 0, non2xx = 0;
  std::vector<long long> latencies;
  latencies.reserve(static_cast<size_t>(total - warmup));
  // A failed connection: its request stays unanswered; one new connection takes its place.
  const auto fail = [&](int index) {
    Connection& c = connections[index];
    inFlight -= c.busy;
    close(c.fd);
    c = Connection{};
    c.fd = connectTo(options, epoll, index);
    if (c.fd >= 0) {
      idle.push_back(index);
    }
  };
  std::string request;
  epoll_event events[256];
  for (;;) {
    Clock::time_point now = Clock::now();
    // A request is far smaller than the socket's buffer, which holds nothing while the connection is free.
    while (next < total && !idle.empty() && dueAt(next) <= now) {
      const int index = idle.back();
      idle.pop_back();
      Connection& c = connections[index];
      request = head;
      if (options.ids > 0) {
        request += std::to_string(id(random));
      }
      request += tail;
      c.busy = true;
      c.counted = next >= warmup;
      c.start = options.fromSend ? now : dueAt(next);
      sentInWindow += c.counted && now <= windowEnd;
      ++next;
      ++inFlight;
      if (send(c.fd, request.data(), request.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
          static_cast<ssize_t>(request.size())) {
        fail(index);
      }
    }
    // Done, out of time, or every connection lost.
    if ((next == total && inFlight == 0) || now >= deadline || (idle.empty() && inFlight == 0)) {
      break;
    }
    const Clock::time_point wake = next < total && !idle.empty() ? std::min(dueAt(next), deadline) : deadline;
    const auto wait = std::max(nanoseconds(0), wake - now);
    const timespec timeout{static_cast<time_t>(wait.count() / 1000000000),
                           static_cast<long>(wait.count() % 1000000000)};
    const int ready = epoll_pwait2(epoll, events, 256, &timeout, nullptr);
    now = Clock::now();
    for (int e = 0; e < ready; ++e) {
      const int index = static_cast<int>(events[e].data.u32);
      Connection& c = connections[index];
      char buffer[16384];
      const ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);  // never waits: the schedule goes on
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        continue;
      }
      if (n <= 0 || !c.busy) {
        fail(index);
        continue;
      }
      c.received.append(buffer, static_cast<size_t>(n));
      const Answer answer = parseAnswer(c.received);
      if (answer.malformed) {
        fail(index);
      } else if (answer.length > 0) {
        if (c.counted) {
          ++answered;
          latencies.push_back((now - c.start).count());
          non2xx += answer.status < 200 || answer.status > 299;
        }
        c.busy = false;
        --inFlight;
        c.received.erase(0, answer.length);
        if (answer.close) {
          fail(index);
        } else {
          idle.push_back(index);
        }
      }
    }
  }
  // Requests lost with their connection, or not sent or answered by the deadline.
  const long long errors = (total - warmup) - answered;
  std::sort(latencies.begin(), latencies.end());
  const double window = std::chrono::duration<double>(windowEnd - windowStart).count();
  std::printf(
      "open-loop offered=%.0f achieved=%.0f due=%lld answered=%lld non2xx=%lld errors=%lld p50_us=%lld "
      "p99_us=%lld p999_us=%lld max_us=%lld\n",
      options.rate, static_cast<double>(sentInWindow) / window, total - warmup, answered, non2xx, errors,
      percentileUs(latencies, 0.5), percentileUs(latencies, 0.99), percentileUs(latencies, 0.999),
      latencies.empty() ? 0 : latencies.back() / 1000);
  return 0;
}
