// libFuzzer harness: a billing order body as the gateway and billing-app receive it (untrusted bytes from
// a client or from the queue). parseOrderMessage must never crash, throw or accept what it should not.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "orders/order_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = mp::parseOrderMessage(body);
  if (parsed.ok()) {
    const mp::OrderMessage& order = *parsed;
    // What an accepted order promises to PostgreSQL (numeric(12,2), integer > 0, user_id bounded).
    if (order.userId.empty() || order.userId.size() > mp::kMaxUserIdBytes || order.numberOfItems <= 0 ||
        order.totalCents < 0 || order.totalCents > 999999999999) {
      std::abort();
    }
    // The amount text must read back to the same cents.
    auto cents = mp::parseAmountCents(order.totalAmountText());
    if (!cents.ok() || *cents != order.totalCents) {
      std::abort();
    }
  } else if (parsed.status().message().empty()) {
    std::abort();  // a refusal always says why
  }
  mp::parseAmountCents(body);
  return 0;
}
