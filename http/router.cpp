#include "http/router.h"

#include <algorithm>

namespace mp::http {

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) {
      end = path.size();
    }
    if (end > start) {
      segments.push_back(path.substr(start, end - start));
    }
    start = end + 1;
  }
  return segments;
}

void Router::add(std::string method, const std::string& pattern, Handler handler, Dispatch dispatch) {
  routes_.push_back({std::move(method), pattern, splitPath(pattern), std::move(handler), dispatch, {}, {}});
}

void Router::addAsync(std::string method, const std::string& pattern, AsyncHandler handler) {
  routes_.push_back(
      {std::move(method), pattern, splitPath(pattern), {}, Dispatch::kAsync, std::move(handler), {}});
}

void Router::addStream(std::string method, const std::string& pattern, StreamHandler handler,
                       Dispatch dispatch) {
  routes_.push_back({std::move(method), pattern, splitPath(pattern), {}, dispatch, {}, std::move(handler)});
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match result;
  auto segments = splitPath(path);
  for (const auto& route : routes_) {
    // A final "*" segment matches one or more remaining segments.
    const bool wildcard = !route.segments.empty() && route.segments.back() == "*";
    const size_t fixed = wildcard ? route.segments.size() - 1 : route.segments.size();
    if (wildcard ? segments.size() <= fixed : segments.size() != fixed) {
      continue;
    }
    std::vector<std::pair<std::string, std::string>> params;
    bool same = true;
    for (size_t i = 0; i < fixed && same; ++i) {
      const auto& expected = route.segments[i];
      if (!expected.empty() && expected[0] == ':') {
        params.emplace_back(expected.substr(1), segments[i]);
      } else {
        same = expected == segments[i];
      }
    }
    if (!same) {
      continue;
    }
    if (route.method == method) {
      result.route = &route;
      result.params = std::move(params);
      result.allowed.clear();
      return result;
    }
    if (std::find(result.allowed.begin(), result.allowed.end(), route.method) == result.allowed.end()) {
      result.allowed.push_back(route.method);
    }
  }
  return result;
}

}  // namespace mp::http
