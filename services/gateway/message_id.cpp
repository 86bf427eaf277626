#include "gateway/message_id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace mp::gateway {

std::string newMessageId() {
  // Every id's bits come from the kernel at the draw (getrandom never blocks once the pool is initialised,
  // which it is long before a service starts): no generator state that threads, replicas or a forked
  // process could share, so ids collide only by chance, at 122 random bits.
  unsigned char bytes[16];
  std::size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t got = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (got > 0) {
      filled += static_cast<std::size_t>(got);
    } else if (got < 0 && errno != EINTR) {
      // Only on a kernel without getrandom (before Linux 3.17); an id must never be guessable or reused.
      std::perror("getrandom");
      std::abort();
    }
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < sizeof(bytes); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      text += '-';
    }
    text += kHex[bytes[i] >> 4];
    text += kHex[bytes[i] & 0x0f];
  }
  return text;
}

StatusOr<std::string> orderMessageId(const std::optional<std::string>& idempotencyKey) {
  if (!idempotencyKey) {
    return newMessageId();
  }
  const Status unusable =
      Status::invalidArgument("Idempotency-Key must be 1 to 200 printable ASCII characters without spaces");
  // An AMQP short string holds 255 bytes; 200 leaves room for the prefix.
  if (idempotencyKey->empty() || idempotencyKey->size() > 200) {
    return unusable;
  }
  for (char c : *idempotencyKey) {
    if (c < 0x21 || c > 0x7e) {
      return unusable;
    }
  }
  return "key:" + *idempotencyKey;
}

}  // namespace mp::gateway
