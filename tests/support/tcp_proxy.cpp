#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

namespace mp::test {
namespace {

struct Pair {
  int client = -1;
  int server = -1;
};

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

// Copies what `from` has to `to`; false when either side is done.
bool pass(int from, int to) {
  char buffer[16384];
  const ssize_t got = ::read(from, buffer, sizeof(buffer));
  if (got <= 0) {
    return false;
  }
  for (ssize_t sent = 0; sent < got;) {
    const ssize_t n = ::write(to, buffer + sent, static_cast<size_t>(got - sent));
    if (n <= 0) {
      return false;
    }
    sent += n;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(uint16_t targetPort) : targetPort_(targetPort) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("TcpProxy: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

void TcpProxy::run() {
  std::vector<Pair> pairs;
  auto closePair = [](Pair& pair) {
    ::close(pair.client);
    ::close(pair.server);
    pair.client = pair.server = -1;
  };
  while (!stop_) {
    if (closeAll_.exchange(false)) {
      for (Pair& pair : pairs) {
        closePair(pair);
      }
      pairs.clear();
    }
    const bool silent = mode_ == Mode::kSilent;
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    if (!silent) {
      for (const Pair& pair : pairs) {
        fds.push_back({pair.client, POLLIN, 0});
        fds.push_back({pair.server, POLLIN, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 20) <= 0) {
      continue;
    }
    if (fds[0].revents & POLLIN) {
      Pair pair;
      pair.client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      const bool refuse = mode_ == Mode::kRefuse;
      pair.server = pair.client >= 0 && !refuse ? connectTo(targetPort_) : -1;
      if (pair.server >= 0) {
        pairs.push_back(pair);
        ++connectionsAccepted_;
      } else if (pair.client >= 0) {
        ::close(pair.client);
      }
    }
    if (silent) {
      continue;
    }
    // fds[1 + 2i] is pairs[i].client, fds[2 + 2i] its server; pairs accepted just now are not in fds yet.
    const std::size_t polled = (fds.size() - 1) / 2;
    for (std::size_t i = 0; i < polled; ++i) {
      Pair& pair = pairs[i];
      const short fromClient = fds[1 + 2 * i].revents;
      const short fromServer = fds[2 + 2 * i].revents;
      bool open = true;
      if (fromServer & (POLLIN | POLLHUP | POLLERR)) {
        Mode cut = Mode::kCutNextReply;
        if (mode_.compare_exchange_strong(cut, Mode::kForward)) {
          char dropped[16384];
          (void)!::read(pair.server, dropped, sizeof(dropped));
          ++repliesCut_;
          open = false;
        } else {
          open = pass(pair.server, pair.client);
        }
      }
      if (open && (fromClient & (POLLIN | POLLHUP | POLLERR))) {
        open = pass(pair.client, pair.server);
      }
      if (!open) {
        closePair(pair);
      }
    }
    std::vector<Pair> kept;
    for (const Pair& pair : pairs) {
      if (pair.client >= 0) {
        kept.push_back(pair);
      }
    }
    pairs.swap(kept);
  }
  for (Pair& pair : pairs) {
    closePair(pair);
  }
}

}  // namespace mp::test
