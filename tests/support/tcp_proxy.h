#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <thread>

namespace mp::test {

// A loopback TCP proxy in front of a real server, for faults the server itself will not produce: a
// connection that goes silent (the peer vanished without closing) or an answer lost on the way back.
// Listens on 127.0.0.1 on a free port; its own thread forwards. Thread-safe.
class TcpProxy {
 public:
  enum class Mode {
    kForward,       // bytes pass both ways
    kSilent,        // nothing passes and nothing is closed: every connection, new ones too, just hangs
    kCutNextReply,  // the next bytes from the server are dropped and that connection closed; then kForward
    kRefuse,        // new connections are closed at once (a server stopped, a Service without endpoints)
  };

  explicit TcpProxy(uint16_t targetPort);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  void setMode(Mode mode) { mode_ = mode; }
  Mode mode() const { return mode_; }
  // Closes every proxied connection, both sides (what a peer that finally gives up does).
  void closeAll() { closeAll_ = true; }
  // Replies dropped by kCutNextReply so far.
  int repliesCut() const { return repliesCut_; }
  // Connections accepted and forwarded so far (a client that reconnects after closeAll() adds to it).
  int connectionsAccepted() const { return connectionsAccepted_; }

 private:
  void run();

  uint16_t targetPort_;
  uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<Mode> mode_{Mode::kForward};
  std::atomic<bool> closeAll_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> repliesCut_{0};
  std::atomic<int> connectionsAccepted_{0};
  std::thread thread_;
};

// Runs `call` on its own thread; when it has not returned after `limit`, fails the test and closes the
// proxy's connections (as the kernel would after ~15 minutes of retransmissions) so that it returns.
// Sets *tookMs to how long it took.
template <typename Call>
auto boundedCall(TcpProxy& proxy, std::chrono::seconds limit, Call call, int64_t* tookMs) {
  const auto started = std::chrono::steady_clock::now();
  auto future = std::async(std::launch::async, call);
  if (future.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "still waiting on a silent server after " << limit.count() << " s";
    proxy.closeAll();
  }
  auto result = future.get();
  *tookMs = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                .count();
  return result;
}

}  // namespace mp::test
