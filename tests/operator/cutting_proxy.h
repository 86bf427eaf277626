#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace mp::op::test {

// A TCP proxy on 127.0.0.1 in front of another loopback port that passes bytes through untouched (TLS
// stays end to end) and can cut every open connection at a moment the test picks: a watch stream broken
// mid-stream without a word from the server, which a real API server does not do on demand.
// Thread-safety: cutAll() and connectionsSeen() from any thread.
class CuttingProxy {
 public:
  explicit CuttingProxy(int targetPort);
  ~CuttingProxy();
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  int port() const { return port_; }
  // Resets every connection open now; later ones pass as before.
  void cutAll();
  int connectionsSeen() const { return seen_.load(); }

 private:
  void acceptLoop();
  void pump(int client, int upstream);

  int targetPort_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> seen_{0};
  std::mutex mutex_;
  std::set<int> open_;              // guarded by mutex_
  std::vector<std::thread> pumps_;  // guarded by mutex_
  std::thread acceptor_;
};

}  // namespace mp::op::test
