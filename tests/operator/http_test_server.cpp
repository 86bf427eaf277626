#include "http_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace mp::op::test {
namespace {

const char* statusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    default:
      return "Status";
  }
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

std::string urlDecode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

bool HttpExchange::writeAll(const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size() && !broken_) {
    ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      broken_ = true;
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return !broken_;
}

bool HttpExchange::clientGone() const {
  pollfd probe{fd_, POLLRDHUP, 0};
  return broken_ || (::poll(&probe, 1, 0) > 0 && (probe.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
}

void HttpExchange::respond(int status, const std::string& body, const std::string& contentType) {
  answered_ = true;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + statusText(status) +
                     "\r\nContent-Type: " + contentType +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  writeAll(head + body);
}

void HttpExchange::beginStream(int status, const std::string& contentType) {
  answered_ = true;
  streaming_ = true;
  writeAll("HTTP/1.1 " + std::to_string(status) + " " + statusText(status) +
           "\r\nContent-Type: " + contentType + "\r\nTransfer-Encoding: chunked\r\n\r\n");
}

bool HttpExchange::sendChunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return writeAll(std::string(size) + data + "\r\n");
}

HttpTestServer::HttpTestServer(Handler handler) : handler_(std::move(handler)) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listenFd_, 64) != 0) {
    ::close(listenFd_);
    throw std::runtime_error("test server: cannot listen on 127.0.0.1");
  }
  socklen_t length = sizeof(address);
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

HttpTestServer::~HttpTestServer() {
  stop();
}

void HttpTestServer::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  ::shutdown(listenFd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listenFd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : openFds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
    workers.swap(workers_);
  }
  for (std::thread& t : workers) {
    t.join();
  }
}

void HttpTestServer::acceptLoop() {
  while (!stopping_) {
    int fd = ::accept(listenFd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) {
        return;
      }
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    openFds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void HttpTestServer::serve(int fd) {
  std::string buffer;
  char chunk[16384];
  auto readMore = [&]() {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      return false;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  bool open = true;
  while (open && !stopping_) {
    std::size_t headerEnd;
    while ((headerEnd = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!readMore()) {
        open = false;
        break;
      }
    }
    if (!open) {
      break;
    }
    TestRequest request;
    std::string head = buffer.substr(0, headerEnd);
    buffer.erase(0, headerEnd + 4);
    std::size_t lineEnd = head.find("\r\n");
    std::string requestLine = head.substr(0, lineEnd);
    std::size_t sp1 = requestLine.find(' ');
    std::size_t sp2 = requestLine.find(' ', sp1 + 1);
    request.method = requestLine.substr(0, sp1);
    std::string target = requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
    while (pos < head.size()) {
      std::size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) {
        end = head.size();
      }
      std::string line = head.substr(pos, end - pos);
      std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        request.headers[lower(line.substr(0, colon))] = value;
      }
      pos = end + 2;
    }
    std::size_t question = target.find('?');
    request.path = urlDecode(target.substr(0, question));
    if (question != std::string::npos) {
      std::string query = target.substr(question + 1);
      std::size_t start = 0;
      while (start <= query.size()) {
        std::size_t amp = query.find('&', start);
        std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        std::size_t eq = pair.find('=');
        if (!pair.empty()) {
          request.query[urlDecode(pair.substr(0, eq))] =
              eq == std::string::npos ? "" : urlDecode(pair.substr(eq + 1));
        }
        if (amp == std::string::npos) {
          break;
        }
        start = amp + 1;
      }
    }
    std::size_t length = 0;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      length = std::stoul(it->second);
    }
    while (buffer.size() < length) {
      if (!readMore()) {
        open = false;
        break;
      }
    }
    if (!open) {
      break;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    bool close = lower(request.headers["connection"]) == "close";
    HttpExchange exchange(fd, std::move(request), stopping_);
    handler_(exchange);
    if (!exchange.answered()) {
      exchange.respond(500, "{\"error\":\"no answer\"}");
    }
    if (exchange.streaming()) {
      exchange.sendChunk("");  // the zero-length chunk ends the body
      break;
    }
    if (close) {
      break;
    }
  }
  ::shutdown(fd, SHUT_RDWR);
  std::lock_guard<std::mutex> lock(mutex_);
  openFds_.erase(std::remove(openFds_.begin(), openFds_.end(), fd), openFds_.end());
  ::close(fd);
}

}  // namespace mp::op::test
