#pragma once

#include <optional>
#include <string>

namespace mp::gateway {

// A random (version 4) UUID, for message ids: 122 bits from the kernel's getrandom() for each id.
std::string newMessageId();

// The message_id of an order: "key:" + the client's Idempotency-Key header when it sent one (so a
// retried post is stored once; the prefix keeps client keys apart from generated ids), else a fresh
// UUID. False when the key is unusable: more than 200 bytes, or not printable ASCII without spaces.
bool orderMessageId(const std::optional<std::string>& idempotencyKey, std::string* messageId);

}  // namespace mp::gateway
