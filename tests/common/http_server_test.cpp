// The shared HTTP server over real sockets on 127.0.0.1: keep-alive, JSON errors, limits, crash safety,
// metrics labels and drain.
#include "common/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "support/http_client.h"

namespace mp::http {
namespace {

using test::HttpClient;

class HttpServerTest : public ::testing::Test {
 protected:
  // The readiness check, like routes, is set before start(): the server's threads read it unlocked.
  void startServer(ServerOptions options = {}, ReadinessCheck readiness = nullptr) {
    options.service = "test-service";
    options.bindAddress = "127.0.0.1";
    options.port = 0;
    options.accessLog = false;
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
    server_->route("GET", "/slow", [](const Request&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      return Response::json(200, {{"slow", true}});
    });
    if (readiness) {
      server_->setReadiness(std::move(readiness));
    }
    std::string error;
    ASSERT_TRUE(server_->start(&error)) << error;
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    if (server_) {
      server_->drainAndStop();
    }
  }

  ServiceMetrics metrics_{"test-service"};
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
  HttpClient other(port_);
  EXPECT_EQ(other.request("POST", "/json", std::string(1000, 'x')).status, 200);
}

TEST_F(HttpServerTest, MalformedRequestLineGetsJson400) {
  startServer();
  HttpClient client(port_);
  auto reply = client.raw("FOO /echo/a HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(reply.status, 400);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["error"], "bad_request");
  EXPECT_TRUE(reply.closed);
  HttpClient other(port_);
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
  startServer({}, [&](std::string* reason) {
    *reason = "dependency down";
    return ready.load();
  });
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

}  // namespace
}  // namespace mp::http
