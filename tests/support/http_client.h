#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mp::test {

struct HttpReply {
  int status = 0;                                            // 0: no answer (connection closed or timed out)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
  bool closed = false;   // the server closed the connection after answering
  bool chunked = false;  // the body came with chunked transfer coding (decoded into body)
  bool complete = true;  // the body ended as its framing said: all Content-Length bytes, or the last chunk

  std::optional<std::string> header(const std::string& lowerName) const;
};

// A blocking HTTP/1.1 client over one TCP connection to 127.0.0.1, for tests: sends exactly the bytes
// it is given, so malformed requests can be written by hand. Reconnects when the server closed.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpReply request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& headers = {
                        {"Content-Type", "application/json"}});
  // Sends raw bytes and reads one response.
  HttpReply raw(const std::string& bytes);
  // The two halves of raw(), for a test that holds back reading (the server then waits for the socket).
  bool sendOnly(const std::string& bytes);
  HttpReply receive() { return readReply(); }
  // Reads until at least `bytes` of the answer have arrived, keeping them for receive(); false when the
  // connection closed or the timeout passed first.
  bool receiveAtLeast(size_t bytes);
  // The socket's receive buffer for the next connection, in bytes, instead of the kernel's (which grows up to
  // net.ipv4.tcp_rmem's last figure, 32 MB on some machines): bounds what a server can write ahead of reads.
  void limitReceiveBuffer(int bytes) { receiveBuffer_ = bytes; }
  // Whether the current connection is still the one used for the previous request.
  int connectionsOpened() const { return connections_; }

 private:
  bool connect();
  void disconnect();
  bool sendAll(const std::string& bytes);
  HttpReply readReply();
  // Appends what the socket has to buffer_, waiting until `deadline` for something; false when nothing came.
  bool fill(std::chrono::steady_clock::time_point deadline);

  uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  int connections_ = 0;
  int receiveBuffer_ = 0;  // 0: the kernel's
  std::string buffer_;
};

// Polls GET `path` on 127.0.0.1:port until it answers `status`; false when `timeout` passes first.
bool waitForStatus(uint16_t port, const std::string& path, int status, std::chrono::milliseconds timeout);

}  // namespace mp::test
