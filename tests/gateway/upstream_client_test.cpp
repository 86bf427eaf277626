// The upstream client's failures as values: each cause is a kUnavailable Status whose reason the proxy
// branches on (upstream_client.h), over real loopback sockets.
#include "gateway/upstream_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mp::gateway {
namespace {

constexpr const char* kRequest = "GET /api/movies HTTP/1.1\r\nHost: x\r\n\r\n";

// A socket bound to a free loopback port; listening (connections complete in the kernel's backlog and
// are never answered) or not (connections are refused). Closed on destruction.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    if (listening) {
      EXPECT_EQ(::listen(fd_, 8), 0);
    }
  }
  ~LoopbackSocket() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

UpstreamSettings settingsFor(uint16_t port) {
  UpstreamSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.connectTimeout = std::chrono::milliseconds(1000);
  settings.timeout = std::chrono::milliseconds(200);
  return settings;
}

// Sends one request and waits (at most 10 s) for how it ended.
std::shared_future<StatusOr<UpstreamAnswer>> send(UpstreamClient& client,
                                                  const std::string& request = kRequest) {
  auto promise = std::make_shared<std::promise<StatusOr<UpstreamAnswer>>>();
  std::shared_future<StatusOr<UpstreamAnswer>> ended = promise->get_future().share();
  client.send(request, false,
              [promise](StatusOr<UpstreamAnswer> result) { promise->set_value(std::move(result)); });
  return ended;
}

Status failureOf(const std::shared_future<StatusOr<UpstreamAnswer>>& ended) {
  if (ended.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return Status::internal("no answer within 10 s");
  }
  if (ended.get().ok()) {
    return Status::internal("answered " + std::to_string(ended.get()->status));
  }
  return ended.get().status();
}

TEST(UpstreamClient, ARefusedConnectionIsUnreachable) {
  LoopbackSocket closed(false);
  UpstreamClient client(settingsFor(closed.port()));
  Status failure = failureOf(send(client));
  EXPECT_EQ(failure.code(), Code::kUnavailable) << failure.message();
  EXPECT_EQ(failure.reason(), kUpstreamUnreachable) << failure.message();
  EXPECT_EQ(failure.httpStatus(), 0) << "no answer came back";
  EXPECT_NE(failure.message().find("connect"), std::string::npos) << failure.message();
}

TEST(UpstreamClient, ASentRequestWithoutAnAnswerTimesOutAndOneMoreThanTheQueueIsOverloaded) {
  LoopbackSocket silent(true);
  UpstreamSettings settings = settingsFor(silent.port());
  settings.maxConnections = 1;
  settings.queueLimit = 0;
  UpstreamClient client(settings);
  auto first = send(client);
  Status second = failureOf(send(client));
  EXPECT_EQ(second.code(), Code::kUnavailable) << second.message();
  EXPECT_EQ(second.reason(), kUpstreamOverloaded) << second.message();
  Status timedOut = failureOf(first);
  EXPECT_EQ(timedOut.code(), Code::kUnavailable) << timedOut.message();
  EXPECT_EQ(timedOut.reason(), kUpstreamTimedOut) << timedOut.message();
  EXPECT_EQ(timedOut.httpStatus(), 0);
}

// A keep-alive HTTP/1.1 upstream on one loopback address (127.0.0.N, a port of the kernel's choice) that
// answers every bodiless request 200 and counts connections and requests; a thread per connection.
// Answers 200 to every request, or (`answers` false, a server going away) reads one and closes the
// connection without a byte of an answer.
class CountingUpstream {
 public:
  explicit CountingUpstream(const std::string& ip, bool answers = true)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), answers_(answers) {
    address_.sin_family = AF_INET;
    EXPECT_EQ(::inet_pton(AF_INET, ip.c_str(), &address_.sin_addr), 1);
    socklen_t length = sizeof address_;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address_), length), 0) << ip;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address_), &length), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~CountingUpstream() {
    stopping_ = true;
    acceptor_.join();
    ::close(fd_);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& thread : threads_) {
      thread.join();
    }
  }

  UpstreamAddress address() const {
    UpstreamAddress result;
    std::memcpy(&result.address, &address_, sizeof address_);
    result.length = sizeof address_;
    return result;
  }
  int connections() const { return connections_; }
  int requests() const { return requests_; }
  int open() const { return open_; }

 private:
  // Both loops look at stopping_ every 20 ms, so the destructor ends them promptly.
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 20) > 0;
  }
  void acceptLoop() {
    while (!stopping_) {
      if (!readable(fd_)) {
        continue;
      }
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        continue;
      }
      ++connections_;
      ++open_;
      std::lock_guard<std::mutex> lock(mutex_);
      threads_.emplace_back([this, client] { serve(client); });
    }
  }
  void serve(int client) {
    std::string pending;
    bool dropped = false;
    char buffer[4096];
    while (!stopping_) {
      if (!readable(client)) {
        continue;
      }
      ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
      if (got <= 0) {
        break;
      }
      pending.append(buffer, static_cast<size_t>(got));
      for (size_t end; (end = pending.find("\r\n\r\n")) != std::string::npos;) {
        pending.erase(0, end + 4);
        ++requests_;
        if (!answers_) {
          dropped = true;
          break;
        }
        static const std::string kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if (::send(client, kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL) < 0) {
          break;
        }
      }
      if (dropped) {
        break;
      }
    }
    --open_;
    ::close(client);
  }

  int fd_;
  bool answers_;
  sockaddr_in address_{};
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0}, requests_{0}, open_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

// A name's answer that a test changes while the client runs (the name server's part; the upstreams are
// real sockets).
class ChangingName {
 public:
  void set(std::vector<UpstreamAddress> addresses) {
    std::lock_guard<std::mutex> lock(mutex_);
    addresses_ = std::move(addresses);
  }
  UpstreamResolver resolver() {
    return [this](const std::string&, uint16_t) -> StatusOr<std::vector<UpstreamAddress>> {
      std::lock_guard<std::mutex> lock(mutex_);
      ++asked_;
      return addresses_;
    };
  }
  int asked() {
    std::lock_guard<std::mutex> lock(mutex_);
    return asked_;
  }

 private:
  int asked_ = 0;
  std::mutex mutex_;
  std::vector<UpstreamAddress> addresses_;
};

UpstreamSettings settingsFor(ChangingName& name) {
  UpstreamSettings settings;
  settings.host = "inventory-app";
  settings.resolver = name.resolver();
  settings.resolveInterval = std::chrono::milliseconds(100);
  settings.timeout = std::chrono::seconds(5);
  settings.maxConnections = 8;
  return settings;
}

// Sends `count` requests, `inFlight` at a time, each answered 200; false when one was not.
bool sendAll(UpstreamClient& client, int count, int inFlight) {
  for (int sent = 0; sent < count; sent += inFlight) {
    std::vector<std::shared_future<StatusOr<UpstreamAnswer>>> batch;
    for (int i = 0; i < inFlight && sent + i < count; ++i) {
      batch.push_back(send(client));
    }
    for (auto& ended : batch) {
      if (ended.wait_for(std::chrono::seconds(10)) != std::future_status::ready || !ended.get().ok() ||
          ended.get()->status != 200) {
        return false;
      }
    }
  }
  return true;
}

UpstreamAddress refusedAt(const LoopbackSocket& socket) {
  UpstreamAddress gone;
  auto* inet = reinterpret_cast<sockaddr_in*>(&gone.address);
  inet->sin_family = AF_INET;
  inet->sin_port = htons(socket.port());
  inet->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  gone.length = sizeof(sockaddr_in);
  return gone;
}

// docker compose --scale inventory-app=3, or a headless Service: one name, several addresses.
TEST(UpstreamClientBalance, EveryAddressANameHasCarriesItsShare) {
  CountingUpstream a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  ChangingName name;
  name.set({a.address(), b.address(), c.address()});
  UpstreamClient client(settingsFor(name));
  ASSERT_TRUE(sendAll(client, 300, 6));
  for (const CountingUpstream* upstream : {&a, &b, &c}) {
    EXPECT_GE(upstream->requests(), 80) << "of 300 requests over 3 addresses";
  }
}

// Scaled from 1 to 3: the new addresses get their share once the name is asked again; an address the
// name no longer has gets nothing more, and its kept-alive connections are closed.
TEST(UpstreamClientBalance, AddressesAddedAndRemovedAreFollowed) {
  CountingUpstream a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  ChangingName name;
  name.set({a.address()});
  UpstreamClient client(settingsFor(name));
  ASSERT_TRUE(sendAll(client, 60, 4));
  EXPECT_EQ(a.requests(), 60);
  name.set({a.address(), b.address(), c.address()});
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_TRUE(sendAll(client, 300, 6));
  EXPECT_GE(b.requests(), 80) << "of the 300 sent after the name gained it";
  EXPECT_GE(c.requests(), 80) << "of the 300 sent after the name gained it";

  name.set({b.address(), c.address()});
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const int before = a.requests();
  ASSERT_TRUE(sendAll(client, 100, 4));
  EXPECT_EQ(a.requests(), before) << "an address the name lost got requests";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (a.open() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(a.open(), 0) << "connections to an address the name lost stay open";
}

// A container removed by `--scale` (or a pod gone) stays in the name's answer until it is asked again: a
// connect refused there was never a request, so it goes to another address, and that address is passed
// over meanwhile. From 3 to 1, two addresses refuse at once: a request refused by both reaches the third.
TEST(UpstreamClientBalance, TwoAddressesThatRefuseAtOnceAreBothPassedOver) {
  CountingUpstream up("127.0.0.1");
  LoopbackSocket first(false), second(false);
  ChangingName name;
  name.set({refusedAt(first), refusedAt(second), up.address()});
  UpstreamSettings settings = settingsFor(name);
  settings.resolveInterval = std::chrono::hours(1);
  UpstreamClient client(settings);
  EXPECT_TRUE(sendAll(client, 30, 3)) << "a request failed where one address was up";
  EXPECT_EQ(up.requests(), 30);
}

// A pod going away may take a request on a new connection and close it unanswered. A GET is sent again,
// to another address (RFC 9110 9.2.2: idempotent); a POST is not: it may have been acted on.
TEST(UpstreamClientBalance, AnUnansweredIdempotentRequestIsSentAgainElsewhereAndAPostIsNot) {
  CountingUpstream leaving("127.0.0.1", false), up("127.0.0.2");
  ChangingName name;
  name.set({leaving.address(), up.address()});
  UpstreamSettings settings = settingsFor(name);
  settings.resolveInterval = std::chrono::hours(1);
  {
    UpstreamClient client(settings);
    EXPECT_TRUE(sendAll(client, 20, 2)) << "a GET failed where one address answered";
    EXPECT_GE(leaving.requests(), 1) << "the leaving address was never tried";
    EXPECT_EQ(up.requests(), 20);
  }
  name.set({leaving.address()});
  UpstreamClient client(settings);
  const int before = leaving.requests();
  auto posted = send(client, "POST /api/movies HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(failureOf(posted).reason(), kUpstreamUnreachable);
  EXPECT_EQ(leaving.requests() - before, 1) << "a POST was sent more than once";
}

// Each loop asks the name itself: one that has not asked before, when the name server fails it, uses the
// last answer another loop got instead of failing the request.
TEST(UpstreamClientBalance, ALoopWhoseFirstAskFailsUsesTheLastAnswerAnotherLoopGot) {
  CountingUpstream up("127.0.0.1");
  ChangingName name;
  name.set({up.address()});
  UpstreamSettings settings = settingsFor(name);
  settings.loops = 2;
  UpstreamClient client(settings);
  ASSERT_TRUE(sendAll(client, 1, 1)) << "the first request, on one loop";
  name.set({});
  EXPECT_TRUE(sendAll(client, 10, 2)) << "a request failed while the name server gave nothing";
  EXPECT_EQ(up.requests(), 11);
}

// The name server is asked in the request's path (getaddrinfo blocks): while it fails, the last answer
// serves and it is asked again only once the interval has passed, not for every request.
TEST(UpstreamClientBalance, AFailingNameServerIsAskedOncePerIntervalNotPerRequest) {
  CountingUpstream up("127.0.0.1");
  ChangingName name;
  name.set({up.address()});
  UpstreamSettings settings = settingsFor(name);
  settings.resolveInterval = std::chrono::milliseconds(2000);
  UpstreamClient client(settings);
  ASSERT_TRUE(sendAll(client, 1, 1));
  name.set({});
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  const int before = name.asked();
  ASSERT_TRUE(sendAll(client, 40, 1)) << "a request failed while the last answer was good";
  EXPECT_LE(name.asked() - before, 1) << "asks of a failing name server during 40 requests";
}

// Through a Service's one address, kube-proxy picks a pod per connection: pods added later get traffic
// only from new connections, so a connection's life is bounded by a request count and an age.
TEST(UpstreamClientBalance, AConnectionCarriesAtMostMaxRequestsAndLivesAtMostMaxAge) {
  CountingUpstream upstream("127.0.0.1");
  ChangingName name;
  name.set({upstream.address()});
  UpstreamSettings settings = settingsFor(name);
  settings.connectionMaxRequests = 10;
  settings.connectionMaxAge = std::chrono::hours(1);
  {
    UpstreamClient client(settings);
    ASSERT_TRUE(sendAll(client, 100, 1));
    EXPECT_EQ(upstream.requests(), 100);
    EXPECT_EQ(upstream.connections(), 10) << "one connection for every 10 requests";
  }
  const int before = upstream.connections();
  settings.connectionMaxRequests = 0;
  settings.connectionMaxAge = std::chrono::milliseconds(100);
  UpstreamClient client(settings);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(sendAll(client, 5, 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int opened = upstream.connections() - before;
  EXPECT_GE(opened, 3) << "50 requests over about 0.5 s on connections that live 100 ms";
  EXPECT_LE(opened, 10);
}

}  // namespace
}  // namespace mp::gateway
