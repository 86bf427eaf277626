#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace mp {

// The one duration syntax of every setting and flag (README, "Configuration"; docs/operator.md):
// one or more <number><unit> parts, unit ms, s, m or h ("250ms", "2s", "1.5m", "1h30m"), or a bare
// number of milliseconds ("1500"). Nullopt when malformed, negative, or above 10^12 ms.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

}  // namespace mp
