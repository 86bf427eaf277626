#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mp::gateway {

// Compares a secret with an input in time that depends only on the input's length, so that timing
// reveals nothing about how much of the secret a guess got right.
bool constantTimeEquals(std::string_view secret, std::string_view input);

// True when an Authorization header value is "Bearer <token>" (scheme case-insensitive) for `token`.
bool bearerTokenMatches(const std::optional<std::string>& authorization, std::string_view token);

}  // namespace mp::gateway
