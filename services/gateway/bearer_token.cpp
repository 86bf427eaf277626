#include "gateway/bearer_token.h"

#include <cctype>

namespace mp::gateway {

bool constantTimeEquals(std::string_view secret, std::string_view input) {
  // Every byte of the input is compared (against the secret repeated), whatever differs first.
  unsigned difference = secret.size() == input.size() ? 0u : 1u;
  if (secret.empty()) {
    return input.empty();
  }
  for (size_t i = 0; i < input.size(); ++i) {
    difference |=
        static_cast<unsigned char>(secret[i % secret.size()]) ^ static_cast<unsigned char>(input[i]);
  }
  return difference == 0;
}

bool bearerTokenMatches(const std::optional<std::string>& authorization, std::string_view token) {
  if (!authorization || token.empty()) {
    return false;
  }
  std::string_view value = *authorization;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) {
    return false;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) {
      return false;
    }
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  return constantTimeEquals(token, value);
}

}  // namespace mp::gateway
