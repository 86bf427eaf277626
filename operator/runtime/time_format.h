#pragma once

#include <cctype>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/duration.h"

namespace mp::op {

using WallClock = std::chrono::system_clock;
using WallTime = WallClock::time_point;

// RFC 3339 in UTC: "2026-01-02T03:04:05Z", or with microseconds as Kubernetes writes Lease times.
std::string formatRfc3339(WallTime time, bool microseconds = false);

// Parses the RFC 3339 forms the API server emits (UTC "Z" or numeric offset, optional fraction).
std::optional<WallTime> parseRfc3339(std::string_view text);

// A Go-style duration as the command line takes it ("15s", "500ms", "2m", "1h30m"): the one syntax of
// base/duration.h without its bare number of milliseconds (every other valid text ends in a unit).
inline std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (text.empty() || !std::isalpha(static_cast<unsigned char>(text.back()))) {
    return std::nullopt;
  }
  return mp::parseDuration(text);
}

}  // namespace mp::op
