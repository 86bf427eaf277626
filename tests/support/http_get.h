#pragma once

#include <string>

namespace mp::test {

// GET `url` with a 5 s timeout; returns the status code (0 when no answer) and fills `body`.
int httpGet(const std::string& url, std::string* body);

}  // namespace mp::test
