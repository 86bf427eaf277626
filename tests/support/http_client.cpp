#include "support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <thread>

namespace mp::test {

std::optional<std::string> HttpReply::header(const std::string& lowerName) const {
  for (const auto& [name, value] : headers) {
    if (name == lowerName) {
      return value;
    }
  }
  return std::nullopt;
}

HttpClient::HttpClient(uint16_t port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() {
  disconnect();
}

bool HttpClient::connect() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return false;
  }
  if (receiveBuffer_ > 0) {
    // Before connect, so that the window the server is offered is this small from the start.
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer_, sizeof(receiveBuffer_));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    disconnect();
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ++connections_;
  buffer_.clear();
  return true;
}

void HttpClient::disconnect() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool HttpClient::sendAll(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

HttpReply HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string text = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) {
    text += name + ": " + value + "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  text += "\r\n" + body;
  return raw(text);
}

bool HttpClient::sendOnly(const std::string& bytes) {
  if (fd_ < 0 && !connect()) {
    return false;
  }
  return sendAll(bytes);
}

HttpReply HttpClient::raw(const std::string& bytes) {
  if (fd_ < 0 && !connect()) {
    return {};
  }
  // A kept-alive connection the server closed meanwhile: one fresh try.
  if (!sendAll(bytes)) {
    disconnect();
    if (!connect() || !sendAll(bytes)) {
      // The server may still have answered before closing (e.g. 413 while we were sending).
      return readReply();
    }
  }
  return readReply();
}

bool HttpClient::fill(std::chrono::steady_clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0 || fd_ < 0) {
    return false;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
    return false;
  }
  char chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
  if (n <= 0) {
    return false;
  }
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

bool HttpClient::receiveAtLeast(size_t bytes) {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (buffer_.size() < bytes) {
    if (!fill(deadline)) {
      return false;
    }
  }
  return true;
}

HttpReply HttpClient::readReply() {
  HttpReply reply;
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) {
      disconnect();
      return reply;
    }
  }
  std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  size_t lineEnd = head.find("\r\n");
  std::string statusLine = head.substr(0, lineEnd);
  if (statusLine.size() >= 12) {
    reply.status = std::atoi(statusLine.substr(9, 3).c_str());
  }
  size_t contentLength = 0;
  size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) {
      next = head.size();
    }
    std::string line = head.substr(pos, next - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") {
        contentLength = std::stoul(value);
      }
      reply.headers.emplace_back(name, value);
    }
    pos = next + 2;
  }
  auto encoding = reply.header("transfer-encoding");
  if (encoding && encoding->find("chunked") != std::string::npos) {
    reply.chunked = true;
    reply.complete = false;
    // A line of the chunked framing, without its CRLF; false when the connection ended first.
    auto line = [&](std::string* out) {
      size_t lineEnd;
      while ((lineEnd = buffer_.find("\r\n")) == std::string::npos) {
        if (!fill(deadline)) {
          return false;
        }
      }
      *out = buffer_.substr(0, lineEnd);
      buffer_.erase(0, lineEnd + 2);
      return true;
    };
    std::string sizeLine;
    while (line(&sizeLine)) {
      const size_t size = std::stoul(sizeLine, nullptr, 16);
      if (size == 0) {
        std::string trailer;
        while (line(&trailer) && !trailer.empty()) {
        }
        reply.complete = trailer.empty();
        break;
      }
      while (buffer_.size() < size + 2) {
        if (!fill(deadline)) {
          break;
        }
      }
      reply.body.append(buffer_, 0, std::min(size, buffer_.size()));
      if (buffer_.size() < size + 2) {
        buffer_.clear();
        break;
      }
      buffer_.erase(0, size + 2);
    }
    if (!reply.complete) {
      reply.closed = true;
      disconnect();
      return reply;
    }
  } else {
    while (buffer_.size() < contentLength) {
      if (!fill(deadline)) {
        break;
      }
    }
    reply.body = buffer_.substr(0, std::min(contentLength, buffer_.size()));
    buffer_.erase(0, reply.body.size());
    reply.complete = reply.body.size() == contentLength;
  }
  auto connection = reply.header("connection");
  if (connection) {
    std::string lower = *connection;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower == "close") {
      reply.closed = true;
      disconnect();
    }
  }
  return reply;
}

bool waitForStatus(uint16_t port, const std::string& path, int status, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    HttpClient client(port, std::chrono::seconds(2));
    if (client.request("GET", path).status == status) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace mp::test
