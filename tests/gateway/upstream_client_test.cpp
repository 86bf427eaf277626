// The upstream client's failures as values: each cause is a kUnavailable Status whose reason the proxy
// branches on (upstream_client.h), over real loopback sockets.
#include "gateway/upstream_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

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
std::shared_future<StatusOr<UpstreamAnswer>> send(UpstreamClient& client) {
  auto promise = std::make_shared<std::promise<StatusOr<UpstreamAnswer>>>();
  std::shared_future<StatusOr<UpstreamAnswer>> ended = promise->get_future().share();
  client.send(kRequest, false,
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

}  // namespace
}  // namespace mp::gateway
