#pragma once

#include <optional>
#include <string>

#include "base/status.h"

namespace mp::gateway {

// A random (version 4) UUID, for message ids: 122 bits from the kernel's getrandom() for each id.
std::string newMessageId();

// The message_id of an order: "key:" + the client's Idempotency-Key header when it sent one (so a
// retried post is stored once; the prefix keeps client keys apart from generated ids), else a fresh
// UUID. kInvalidArgument, with the rule as its message, when the key is unusable: empty, more than 200
// bytes, or not printable ASCII without spaces.
StatusOr<std::string> orderMessageId(const std::optional<std::string>& idempotencyKey);

}  // namespace mp::gateway
