#include "cutting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace mp::op::test {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Writes all of `size` bytes; false when the peer is gone.
bool writeAll(int fd, const char* data, ssize_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, static_cast<size_t>(size), MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    data += n;
    size -= n;
  }
  return true;
}

}  // namespace

CuttingProxy::CuttingProxy(int targetPort) : targetPort_(targetPort) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof(address);
  if (listenFd_ < 0 || ::bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listenFd_, 64) != 0 ||
      ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("CuttingProxy: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

CuttingProxy::~CuttingProxy() {
  stopping_ = true;
  acceptor_.join();
  ::close(listenFd_);
  cutAll();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pumps.swap(pumps_);
  }
  for (std::thread& t : pumps) {
    t.join();
  }
}

void CuttingProxy::cutAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (int fd : open_) {
    ::shutdown(fd, SHUT_RDWR);
  }
}

void CuttingProxy::acceptLoop() {
  while (!stopping_) {
    pollfd ready{listenFd_, POLLIN, 0};
    if (::poll(&ready, 1, 200) <= 0) {
      continue;
    }
    int client = ::accept(listenFd_, nullptr, nullptr);
    if (client < 0) {
      continue;
    }
    int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in target = loopback(targetPort_);
    if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
      ::close(client);
      if (upstream >= 0) {
        ::close(upstream);
      }
      continue;
    }
    ++seen_;
    std::lock_guard<std::mutex> lock(mutex_);
    open_.insert(client);
    open_.insert(upstream);
    pumps_.emplace_back([this, client, upstream] { pump(client, upstream); });
  }
}

void CuttingProxy::pump(int client, int upstream) {
  char buffer[16384];
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  bool open = true;
  while (open && !stopping_) {
    if (::poll(fds, 2, 200) <= 0) {
      continue;
    }
    for (int i = 0; i < 2 && open; ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(fds[i].fd, buffer, sizeof(buffer), 0);
        open = n > 0 && writeAll(fds[1 - i].fd, buffer, n);
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    open_.erase(client);
    open_.erase(upstream);
  }
  ::close(client);
  ::close(upstream);
}

}  // namespace mp::op::test
