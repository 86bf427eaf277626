// The shared HTTP server over real sockets on 127.0.0.1: keep-alive, JSON errors, limits, timeouts, crash
// safety, metrics labels, drain, and the event loops its reactor threads host.
#include "http/http_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "support/http_client.h"

namespace mp::http {
namespace {

using test::HttpClient;
using test::HttpReply;

// A server of the tests' own: any free port on 127.0.0.1, no access log.
ServerOptions onLoopback(ServerOptions options = {}) {
  options.service = "test-service";
  options.bindAddress = "127.0.0.1";
  options.port = 0;
  options.accessLog = false;
  return options;
}

constexpr size_t kBigBytes = 32u << 20;

class HttpServerTest : public ::testing::Test {
 protected:
  // The readiness check, like routes, is set before start(): the server's threads read it unlocked.
  void startServer(ServerOptions options = {}, ReadinessCheck readiness = nullptr) {
    options = onLoopback(std::move(options));
    if (options.workerThreads == 4) {
      options.workerThreads = 2;
    }
    server_ = std::make_unique<HttpServer>(options, metrics_);
    server_->route(
        "GET", "/echo/:name",
        [](const Request& r) {
          return Response::json(200, {{"name", *r.param("name")}});
        },
        Dispatch::kInline);
    server_->route("POST", "/json", [](const Request& r) {
      return Response::json(200, {{"size", r.body.size()}});
    });
    server_->route("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("boom"); });
    server_->route("GET", "/slow", [this](const Request&) {
      ++slowRuns_;
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      return Response::json(200, {{"slow", true}});
    });
    // Ten pieces 150 ms apart: an answer that takes 1.5 s to give.
    server_->routeStream("GET", "/drip", [](const Request&, std::shared_ptr<ResponseStream> answer) {
      answer->begin(Response::json(200, nlohmann::json::array()));
      for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        answer->write(i == 0 ? "[0" : "," + std::to_string(i));
      }
      answer->write("]");
      answer->end();
    });
    // 32 MB from a worker: far more than the socket buffers hold, so most of it waits to be written.
    server_->route("GET", "/big", [](const Request&) {
      Response big;
      big.status = 200;
      big.contentType = "text/plain";
      big.body.assign(kBigBytes, 'x');
      return big;
    });
    if (readiness) {
      server_->setReadiness(std::move(readiness));
    }
    Status started = server_->start();
    ASSERT_TRUE(started.ok()) << started.message();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    if (server_) {
      server_->drainAndStop();
    }
  }

  ServiceMetrics metrics_{"test-service"};
  std::atomic<int> slowRuns_{0};  // handler runs of /slow
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpServerTest, Http11IsKeptAliveWithoutAConnectionHeader) {
  startServer();
  HttpClient client(port_);
  for (int i = 0; i < 5; ++i) {
    auto reply = client.raw("GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(reply.status, 200);
    EXPECT_FALSE(reply.closed);
    EXPECT_EQ(reply.header("connection"), "Keep-Alive");
  }
  EXPECT_EQ(client.connectionsOpened(), 1);
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10AreHonoured) {
  startServer();
  HttpClient client(port_);
  auto closeReply = client.raw("GET /echo/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(closeReply.status, 200);
  EXPECT_TRUE(closeReply.closed);
  auto oldReply = client.raw("GET /echo/a HTTP/1.0\r\n\r\n");
  EXPECT_EQ(oldReply.status, 200);
  EXPECT_TRUE(oldReply.closed);
  EXPECT_EQ(client.connectionsOpened(), 2);
}

TEST_F(HttpServerTest, OversizedRequestGetsJson413AndTheServerGoesOn) {
  ServerOptions options;
  options.maxRequestBytes = 64 * 1024;
  startServer(options);
  HttpClient client(port_);
  auto reply = client.request("POST", "/json", std::string(2 * 1024 * 1024, 'x'));
  ASSERT_EQ(reply.status, 413);
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(reply.body)["error"], "payload_too_large");
  HttpClient other(port_, std::chrono::seconds(3));
  EXPECT_EQ(other.request("POST", "/json", std::string(1000, 'x')).status, 200);
}

// Sends bytes one TCP segment per byte, then returns the status line of the answer ("" when none).
std::string sendByteByByte(uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    for (char c : bytes) {
      if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
        break;
      }
    }
    char chunk[4096];
    while (answer.find("\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        break;
      }
      answer.append(chunk, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

TEST_F(HttpServerTest, ARequestSentAByteAtATimeIsCheckedAndServed) {
  startServer();
  EXPECT_EQ(sendByteByByte(port_, "GET /echo/a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"), "HTTP/1.1 200 OK");
  EXPECT_EQ(sendByteByByte(port_, "GET /echo/a HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(sendByteByByte(port_, "GET /echo/a HTTP/1.1\r\nX-Big: " + std::string(9000, 'a')),
            "HTTP/1.1 431 Request Header Fields Too Large");
  HttpClient other(port_, std::chrono::seconds(3));
  EXPECT_EQ(other.request("GET", "/echo/b").status, 200);
}

TEST_F(HttpServerTest, MalformedRequestLineGetsJson400) {
  startServer();
  HttpClient client(port_);
  auto reply = client.raw("FOO /echo/a HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(reply.status, 400);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["error"], "bad_request");
  EXPECT_TRUE(reply.closed);
  HttpClient other(port_, std::chrono::seconds(3));
  EXPECT_EQ(other.request("GET", "/echo/b").status, 200);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  startServer();
  HttpClient client(port_);
  auto missing = client.request("GET", "/nothing/here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"], "not_found");
  auto wrong = client.request("DELETE", "/echo/a");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("allow"), "GET");
  EXPECT_EQ(nlohmann::json::parse(wrong.body)["error"], "method_not_allowed");
}

TEST_F(HttpServerTest, AThrowingHandlerGives500AndTheProcessServesOn) {
  startServer();
  HttpClient client(port_);
  auto reply = client.request("GET", "/boom");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["error"], "internal_error");
  EXPECT_EQ(client.request("GET", "/echo/still").status, 200);
}

TEST_F(HttpServerTest, HealthAndMetricsUseRouteTemplates) {
  startServer();
  HttpClient client(port_);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
  EXPECT_EQ(client.request("GET", "/readyz").status, 200);
  EXPECT_EQ(client.request("GET", "/echo/some-raw-value").status, 200);
  auto metrics = client.request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("route=\"/echo/:name\""), std::string::npos);
  EXPECT_EQ(metrics.body.find("some-raw-value"), std::string::npos);
  EXPECT_NE(metrics.body.find("http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("http_requests_in_flight{service=\"test-service\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_NE(metrics.body.find("process_open_fds"), std::string::npos);
}

TEST_F(HttpServerTest, ReadinessFollowsTheCheck) {
  // Flipped by the test while the server's worker threads read it (found by the ThreadSanitizer run).
  std::atomic<bool> ready{false};
  startServer({}, [&] { return ready.load() ? okStatus() : Status::unavailable("dependency down"); });
  HttpClient client(port_);
  auto down = client.request("GET", "/readyz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(nlohmann::json::parse(down.body)["message"], "dependency down");
  ready = true;
  EXPECT_EQ(client.request("GET", "/readyz").status, 200);
}

TEST_F(HttpServerTest, OverloadIsRefusedWith503NotQueuedForever) {
  ServerOptions options;
  options.workerThreads = 1;
  options.workerQueueLimit = 1;
  startServer(options);
  std::vector<std::future<int>> replies;
  for (int i = 0; i < 4; ++i) {
    replies.push_back(std::async(std::launch::async, [this] {
      HttpClient client(port_);
      return client.request("GET", "/slow").status;
    }));
  }
  int ok = 0, refused = 0;
  for (auto& reply : replies) {
    int status = reply.get();
    ok += status == 200;
    refused += status == 503;
  }
  EXPECT_EQ(ok + refused, 4);
  EXPECT_GE(refused, 1);
  EXPECT_GE(ok, 1);
}

TEST_F(HttpServerTest, DrainFinishesInFlightWorkThenStops) {
  startServer();
  auto slow = std::async(std::launch::async, [this] {
    HttpClient client(port_);
    return client.request("GET", "/slow").status;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server_->drainAndStop();
  EXPECT_EQ(slow.get(), 200);
  HttpClient after(port_, std::chrono::seconds(2));
  EXPECT_EQ(after.request("GET", "/echo/a").status, 0);
}

// A rolling update: what arrives on a kept-alive connection once the drain began is still served (the
// client would otherwise see a 503 for a pod merely going away), with `Connection: close` so that its next
// request goes elsewhere; /readyz says 503 at once, so the pod leaves its Service.
TEST_F(HttpServerTest, DuringTheDrainRequestsAreServedAndEachConnectionClosesAfterItsAnswer) {
  startServer();
  HttpClient kept(port_);
  ASSERT_EQ(kept.request("GET", "/echo/before").status, 200);
  HttpClient probe(port_);
  ASSERT_EQ(probe.request("GET", "/readyz").status, 200);
  auto slow = std::async(std::launch::async, [this] {
    HttpClient client(port_);
    return client.request("GET", "/slow").status;
  });
  while (slowRuns_ == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto drained = std::async(std::launch::async, [this] { server_->drainAndStop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the drain has begun: /slow still runs
  HttpReply during = kept.request("GET", "/echo/during");
  EXPECT_EQ(during.status, 200) << during.body;
  EXPECT_EQ(during.header("connection").value_or(""), "close");
  EXPECT_EQ(kept.connectionsOpened(), 1) << "answered on the connection kept alive before the drain";
  HttpReply ready = probe.request("GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("\"draining\""), std::string::npos) << ready.body;
  EXPECT_EQ(slow.get(), 200);
  drained.get();
}

// An asynchronous answer that comes after the drain timeout (an upstream slower than the drain), even after
// the server is gone, touches nothing freed (ASan would say so): the answer has no connection left to go to.
TEST(HttpServerAsync, AnAnswerAfterTheServerIsGoneTouchesNothingFreed) {
  ServiceMetrics metrics{"test-service"};
  ServerOptions options = onLoopback();
  options.workerThreads = 1;
  options.drainTimeout = std::chrono::milliseconds(200);
  auto server = std::make_unique<HttpServer>(options, metrics);
  std::mutex mutex;
  std::condition_variable held;
  Reply late;  // guarded by mutex
  server->routeAsync("GET", "/held", [&](const Request&, Reply reply) {
    std::lock_guard<std::mutex> lock(mutex);
    late = std::move(reply);
    held.notify_all();
  });
  Status started = server->start();
  ASSERT_TRUE(started.ok()) << started.message();
  const uint16_t port = server->port();
  auto answer = std::async(std::launch::async, [port] {
    HttpClient client(port, std::chrono::seconds(3));
    return client.request("GET", "/held");
  });
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(held.wait_for(lock, std::chrono::seconds(10), [&] { return late != nullptr; }));
  }
  server->drainAndStop();
  server.reset();
  late(Response::json(200, {{"late", true}}));  // after the server is gone: must touch none of it
  late = nullptr;
  EXPECT_EQ(answer.get().status, 0) << "the connection closed without an answer";
}

TEST_F(HttpServerTest, DrainIsBoundedAndRequestsStillQueuedAtItsEndAre503Draining) {
  ServerOptions options;
  options.workerThreads = 1;
  options.drainTimeout = std::chrono::milliseconds(300);
  startServer(options);
  constexpr int kRequests = 12;
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < kRequests; ++i) {
    replies.push_back(std::async(std::launch::async, [this] {
      HttpClient client(port_, std::chrono::seconds(15));
      return client.request("GET", "/slow");
    }));
  }
  // One runs, the others wait in the worker queue (the client connections all arrive within this pause).
  while (slowRuns_ == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto started = std::chrono::steady_clock::now();
  server_->drainAndStop();
  const auto drainedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  int ok = 0, draining = 0;
  for (auto& reply : replies) {
    HttpReply answer = reply.get();
    if (answer.status == 200) {
      ++ok;
    } else {
      EXPECT_EQ(answer.status, 503) << answer.body;
      EXPECT_NE(answer.body.find("\"draining\""), std::string::npos) << answer.body;
      ++draining;
    }
  }
  // The one running at the drain's start, and at most one started before its deadline, ran; the queued
  // rest were answered without running. 400 ms each: running all would take about 4.4 s.
  EXPECT_LE(slowRuns_, 2);
  EXPECT_EQ(ok, slowRuns_);
  EXPECT_EQ(ok + draining, kRequests);
  // The drain timeout, the rest of the handler still running at its end, and the 100 ms flush pause.
  EXPECT_LT(drainedMs, 300 + 400 + 100 + 700);
}

// What a raw connection got: the bytes the server sent, and whether it then closed the connection.
struct RawExchange {
  std::string answer;
  bool closed = false;
};

// Connects, sends `bytes` (maybe none), and reads until the server closes or `wait` passes.
RawExchange sendAndWait(uint16_t port, const std::string& bytes, std::chrono::milliseconds wait) {
  RawExchange result;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      (bytes.empty() ||
       ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()))) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    char chunk[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n == 0) {
        result.closed = true;
        break;
      }
      if (n > 0) {
        result.answer.append(chunk, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return result;
}

// The JSON body of a raw answer ("" when it has none).
std::string bodyOf(const RawExchange& exchange) {
  const size_t start = exchange.answer.find("\r\n\r\n");
  return start == std::string::npos ? "" : exchange.answer.substr(start + 4);
}

// An answer that says Connection: close is the connection's last: a client reading to the end (an HTTP/1.0
// one, or one that asked for the close) sees the end right after the answer.
TEST_F(HttpServerTest, AnAnswerThatSaysConnectionCloseEndsTheConnection) {
  startServer();
  auto old = sendAndWait(port_, "GET /echo/a HTTP/1.0\r\n\r\n", std::chrono::seconds(3));
  EXPECT_EQ(old.answer.substr(0, old.answer.find("\r\n")), "HTTP/1.0 200 OK") << old.answer;
  EXPECT_TRUE(old.closed) << "HTTP/1.0 without keep-alive";
  auto asked = sendAndWait(port_, "GET /echo/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                           std::chrono::seconds(3));
  EXPECT_EQ(asked.answer.substr(0, asked.answer.find("\r\n")), "HTTP/1.1 200 OK") << asked.answer;
  EXPECT_TRUE(asked.closed) << "HTTP/1.1 with Connection: close";
  auto kept = sendAndWait(port_, "GET /echo/c HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::milliseconds(500));
  EXPECT_FALSE(kept.closed) << "HTTP/1.1 stays open";
}

TEST_F(HttpServerTest, AHeadThatStopsHalfWayIsAnsweredJson408AndClosedAfterTheHeaderTimeout) {
  ServerOptions options;
  options.headerTimeout = std::chrono::milliseconds(600);
  startServer(options);
  auto late = sendAndWait(port_, "GET /echo/a HTTP/1.1\r\nHost: x\r\n", std::chrono::seconds(5));
  EXPECT_EQ(late.answer.substr(0, late.answer.find("\r\n")), "HTTP/1.1 408 Request Timeout") << late.answer;
  EXPECT_EQ(nlohmann::json::parse(bodyOf(late))["error"], "request_timeout") << late.answer;
  EXPECT_TRUE(late.closed);
  // One held back does not hold up the others.
  HttpClient other(port_, std::chrono::seconds(3));
  EXPECT_EQ(other.request("GET", "/echo/b").status, 200);
}

TEST_F(HttpServerTest, ABodyThatStopsShortIsAnsweredJson408AfterTheBodyTimeout) {
  ServerOptions options;
  options.bodyTimeout = std::chrono::milliseconds(600);
  startServer(options);
  auto late = sendAndWait(
      port_,
      "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"a\"",
      std::chrono::seconds(5));
  EXPECT_EQ(late.answer.substr(0, late.answer.find("\r\n")), "HTTP/1.1 408 Request Timeout") << late.answer;
  EXPECT_NE(bodyOf(late).find("within 600 ms"), std::string::npos) << late.answer;
  EXPECT_TRUE(late.closed);
}

TEST_F(HttpServerTest, IdleAndSilentConnectionsAreClosedWithoutAnAnswer) {
  ServerOptions options;
  options.headerTimeout = std::chrono::milliseconds(600);
  options.keepaliveTimeout = std::chrono::milliseconds(600);
  startServer(options);
  // Answered, then idle past the keep-alive timeout: closed, nothing more sent.
  auto idle = sendAndWait(port_, "GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(5));
  EXPECT_EQ(idle.answer.substr(0, idle.answer.find("\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(idle.answer.find("HTTP/1.1", 1), std::string::npos) << idle.answer;
  EXPECT_TRUE(idle.closed);
  // Never a byte: closed after the header timeout, silently.
  auto silent = sendAndWait(port_, "", std::chrono::seconds(5));
  EXPECT_EQ(silent.answer, "");
  EXPECT_TRUE(silent.closed);
}

TEST_F(HttpServerTest, AKeptAliveConnectionInUseIsNotClosedByTheKeepaliveTimeout) {
  ServerOptions options;
  options.keepaliveTimeout = std::chrono::milliseconds(800);
  startServer(options);
  HttpClient client(port_);
  // Requests 300 ms apart for well over the timeout: each idle gap is shorter than it.
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(client.request("GET", "/echo/a").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(client.connectionsOpened(), 1);
}

// The keep-alive timeout is for a connection with nothing to do: an answer that takes longer to give (a
// streamed list, a slow handler) is not cut by it, and the idle time it allows starts once the answer is out.
TEST_F(HttpServerTest, AnAnswerLongerThanTheKeepaliveTimeoutIsNotCutByIt) {
  ServerOptions options;
  options.keepaliveTimeout = std::chrono::milliseconds(300);
  startServer(options);
  HttpClient client(port_);
  auto streamed = client.request("GET", "/drip");
  EXPECT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.complete);
  EXPECT_EQ(streamed.body, "[0,1,2,3,4,5,6,7,8,9]");
  // /slow takes 400 ms; 200 ms after its answer the connection is still there.
  auto slow = client.request("GET", "/slow");
  EXPECT_EQ(slow.status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(client.request("GET", "/echo/a").status, 200);
  EXPECT_EQ(client.connectionsOpened(), 1);
}

// A client that stops reading a large answer leaves it waiting in the server, not the reactor thread
// spinning on the full socket: Pistache 0.0.5's write queue retried at once on EAGAIN, forever
// (pistacheio/pistache#949), so every other connection of that reactor waited for the stalled one.
TEST_F(HttpServerTest, AClientThatStopsReadingDoesNotHoldUpTheOthersOfItsReactor) {
  ServerOptions options;
  options.reactorThreads = 1;
  startServer(options);
  int stalled = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(stalled, 0);
  int small = 64 << 10;
  setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(stalled, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string ask = "GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(stalled, ask.data(), ask.size(), 0), static_cast<ssize_t>(ask.size()));
  // The answer is made and its first bytes fill the socket; then nobody reads for a while.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  HttpClient other(port_, std::chrono::seconds(3));
  const auto asked = std::chrono::steady_clock::now();
  auto reply = other.request("GET", "/echo/other");
  const auto waitedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked).count();
  EXPECT_EQ(reply.status, 200);
  EXPECT_LT(waitedMs, 1000) << "the other client's GET waited for the stalled one";
  // Read at last: every byte arrives, then the end of the connection.
  timeval limit{10, 0};
  setsockopt(stalled, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::string got;
  std::vector<char> buffer(1 << 20);
  for (;;) {
    ssize_t n = ::recv(stalled, buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      break;
    }
    got.append(buffer.data(), static_cast<size_t>(n));
  }
  close(stalled);
  const size_t head = got.find("\r\n\r\n");
  ASSERT_NE(head, std::string::npos);
  EXPECT_EQ(got.size() - head - 4, kBigBytes);
  EXPECT_EQ(got.find_first_not_of('x', head + 4), std::string::npos);
}

// A piece of work driven by the reactor that hosts it: jobs handed over by the thread that parsed a
// request (no wake-up: markPending) or by any other (its eventfd, which makes pollFd readable).
class Jobs : public HostedLoop {
 public:
  Jobs() : epoll_(epoll_create1(EPOLL_CLOEXEC)), wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    epoll_event event{};
    event.events = EPOLLIN;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event);
  }
  ~Jobs() override {
    close(wake_);
    close(epoll_);
  }
  int pollFd() const override { return epoll_; }
  Wait turn(bool) override {
    uint64_t count = 0;
    (void)!::read(wake_, &count, sizeof count);
    std::vector<std::function<void()>> now;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      now.swap(jobs_);
    }
    for (auto& job : now) {
      job();
    }
    return Wait::forever();
  }
  void add(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    if (LoopHost* host = LoopHost::current()) {
      host->markPending(this);
    } else {
      uint64_t one = 1;
      (void)!::write(wake_, &one, sizeof one);
    }
  }

 private:
  int epoll_;
  int wake_;
  std::mutex mutex_;
  std::vector<std::function<void()>> jobs_;
};

TEST(HttpServerHosted, EachReactorDrivesItsOwnPiecesOnItsOwnThread) {
  ServiceMetrics metrics{"test-service"};
  ServerOptions options = onLoopback();
  options.reactorThreads = 2;
  Jobs jobs[2];
  HttpServer server(options, metrics);
  server.host(0, jobs[0]);
  server.host(1, jobs[1]);
  EXPECT_THROW(server.host(2, jobs[0]), std::invalid_argument);
  std::atomic<int> sameThread{0}, otherThread{0}, wrongPiece{0};
  // Answered from the piece of the reactor that parsed the request, handed over without a wake-up.
  server.routeAsync("GET", "/here", [&](const Request&, Reply reply) {
    const auto reactor = HttpServer::currentReactor();
    const auto parsedOn = std::this_thread::get_id();
    jobs[reactor.value_or(0)].add([&, reactor, parsedOn, reply] {
      (std::this_thread::get_id() == parsedOn ? sameThread : wrongPiece)++;
      reply(Response::json(200, {{"reactor", reactor.value_or(99)}}));
    });
  });
  // Answered from the piece of the other reactor, handed over by a thread of no reactor (its eventfd).
  server.routeAsync("GET", "/there", [&](const Request&, Reply reply) {
    const size_t other = 1 - HttpServer::currentReactor().value_or(0);
    std::thread([&, other, reply] {
      EXPECT_FALSE(HttpServer::currentReactor().has_value());
      jobs[other].add([&, other, reply] {
        (HttpServer::currentReactor() == other ? otherThread : wrongPiece)++;
        reply(Response::json(200, {{"reactor", other}}));
      });
    }).join();
  });
  ASSERT_TRUE(server.start().ok());
  // Whichever reactor a connection lands on, /there has the other one answer it: both drive their piece.
  for (int c = 0; c < 4; ++c) {
    HttpClient client(server.port());
    for (int i = 0; i < 5; ++i) {
      auto here = client.request("GET", "/here");
      ASSERT_EQ(here.status, 200) << here.body;
      ASSERT_EQ(client.request("GET", "/there").status, 200);
    }
  }
  server.drainAndStop();
  EXPECT_EQ(sameThread, 20);
  EXPECT_EQ(otherThread, 20);
  EXPECT_EQ(wrongPiece, 0);
}

// A piece that only counts its turns and asks for `deadlines` more, `every` apart: the host's timer must
// turn it when each comes, and not at all once it has none (an idle server sleeps).
class Deadlines : public HostedLoop {
 public:
  Deadlines(int deadlines, std::chrono::milliseconds every)
      : epoll_(epoll_create1(EPOLL_CLOEXEC)), left_(deadlines), every_(every) {}
  ~Deadlines() override { close(epoll_); }
  int pollFd() const override { return epoll_; }
  Wait turn(bool) override {
    ++turns;
    return left_-- > 0 ? Wait::atMost(every_) : Wait::forever();
  }
  std::atomic<int> turns{0};

 private:
  int epoll_;
  int left_;
  std::chrono::milliseconds every_;
};

TEST(HttpServerHosted, APieceIsTurnedAtItsDeadlinesAndAnIdleServerSleeps) {
  ServiceMetrics metrics{"test-service"};
  ServerOptions options = onLoopback();
  options.reactorThreads = 1;
  Deadlines piece(5, std::chrono::milliseconds(40));
  HttpServer server(options, metrics);
  server.host(0, piece);
  ASSERT_TRUE(server.start().ok());
  // The first turn (the reactor claiming it), then one per deadline: 6 in about 200 ms.
  for (int i = 0; i < 100 && piece.turns < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(piece.turns, 6) << "the deadlines the piece asked for did not all turn it";
  // No deadline left, no connection: nothing wakes the reactor (a ticking timer would turn it 10 times).
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(piece.turns, 6) << "an idle reactor turned a piece that has no deadline";
  server.drainAndStop();
}

}  // namespace
}  // namespace mp::http
