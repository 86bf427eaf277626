#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace mp {

// A billing order as docs/contract.md ("Messages") defines it, validated: the gateway checks it before
// publishing and billing-app before storing, with the same rules. The amount is kept exact in cents, never as
// a double.
struct OrderMessage {
  std::string userId;         // non-empty, at most kMaxUserIdBytes
  int32_t numberOfItems = 0;  // > 0
  int64_t totalCents = 0;     // >= 0, at most 10 integer digits (numeric(12,2))

  // "180.00": the amount as exact decimal text, what PostgreSQL's numeric receives.
  std::string totalAmountText() const;
};

constexpr std::size_t kMaxUserIdBytes = 255;

// Parses and validates a message body: a JSON object with "user_id", "number_of_items" and
// "total_amount", each a JSON string or number ("3" and 3 are the same). Other members are ignored.
// Numbers are read from their text as written, so 180.10 is exactly 18010 cents. A failure is
// kInvalidArgument with a one-sentence reason for the first problem; never throws.
StatusOr<OrderMessage> parseOrderMessage(std::string_view body);

// "12.5" -> 1250 cents: digits, optionally '.' and one or two digits; a leading '-' only for zero.
// kInvalidArgument, with the reason, otherwise.
StatusOr<int64_t> parseAmountCents(std::string_view text);

}  // namespace mp
