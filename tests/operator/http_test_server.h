#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mp::op::test {

struct TestRequest {
  std::string method;
  std::string path;                            // without the query
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// One request and its answer: either respond() once, or beginStream() then sendChunk()s (chunked).
class HttpExchange {
 public:
  HttpExchange(int fd, TestRequest request, const std::atomic<bool>& stopping)
      : fd_(fd), request_(std::move(request)), stopping_(stopping) {}

  const TestRequest& request() const { return request_; }
  void respond(int status, const std::string& body, const std::string& contentType = "application/json");
  void beginStream(int status, const std::string& contentType);
  bool sendChunk(const std::string& data);  // false once the client has gone
  bool serverStopping() const { return stopping_.load(); }
  bool clientGone() const;  // the peer closed its side (checked without blocking)
  bool answered() const { return answered_; }
  bool streaming() const { return streaming_; }

 private:
  bool writeAll(const std::string& data);

  int fd_;
  TestRequest request_;
  const std::atomic<bool>& stopping_;
  bool answered_ = false;
  bool streaming_ = false;
  bool broken_ = false;
};

// A small HTTP/1.1 server on 127.0.0.1 with a port chosen by the kernel: keep-alive, Content-Length
// request bodies, chunked streaming responses. A thread per connection; stop() closes every socket.
// Thread-safety: the handler runs on connection threads concurrently and must be thread-safe.
class HttpTestServer {
 public:
  using Handler = std::function<void(HttpExchange&)>;

  explicit HttpTestServer(Handler handler);
  ~HttpTestServer();

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void stop();

 private:
  void acceptLoop();
  void serve(int fd);

  Handler handler_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> openFds_;          // guarded by mutex_
  std::vector<std::thread> workers_;  // guarded by mutex_
};

// Percent-decoding for query strings ('+' is a space).
std::string urlDecode(const std::string& text);

}  // namespace mp::op::test
