#include "inventory/movie.h"

#include "base/json_text.h"
#include "common/json_body.h"

namespace mp::inventory {
namespace {

Status badField(const std::string& field, const std::string& message) {
  return Status::fromHttp(400, "invalid_field", message).withField(field);
}

std::optional<int64_t> parseNonNegative(const std::string& text) {
  if (text.empty() || text.size() > 18) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

nlohmann::ordered_json toJson(const Movie& movie) {
  return {{"id", movie.id}, {"title", movie.title}, {"description", movie.description}};
}

namespace {

void appendMovie(std::string& text, const Movie& movie) {
  text += "{\"id\":";
  text += std::to_string(movie.id);
  text += ",\"title\":";
  appendJsonString(text, movie.title);
  text += ",\"description\":";
  appendJsonString(text, movie.description);
  text += '}';
}

}  // namespace

std::string movieJson(const Movie& movie) {
  std::string text;
  text.reserve(48 + movie.title.size() + movie.description.size());
  appendMovie(text, movie);
  return text;
}

std::string moviesJson(const std::vector<Movie>& movies) {
  std::string text = "[";
  text += moviesJsonPiece(movies, true);
  text += ']';
  return text;
}

std::string moviesJsonPiece(const std::vector<Movie>& movies, bool first) {
  std::string text;
  text.reserve(movies.size() * 96);
  for (const auto& movie : movies) {
    if (!first) {
      text += ',';
    }
    first = false;
    appendMovie(text, movie);
  }
  return text;
}

StatusOr<MovieInput> parseMovieInput(const http::Request& request) {
  auto parsed = http::parseJsonObject(request);
  if (!parsed.ok()) {
    return parsed.status();
  }
  const nlohmann::json& body = *parsed;
  MovieInput input;
  auto title = body.find("title");
  if (title == body.end()) {
    return badField("title", "title is required");
  }
  if (!title->is_string()) {
    return badField("title", "title must be a string");
  }
  input.title = title->get<std::string>();
  size_t length = http::utf8Length(input.title);
  if (length == 0 || length > kMaxTitleLength) {
    return badField("title", "title must be 1 to " + std::to_string(kMaxTitleLength) + " characters long");
  }
  auto description = body.find("description");
  if (description != body.end()) {
    if (!description->is_string()) {
      return badField("description", "description must be a string");
    }
    input.description = description->get<std::string>();
  }
  // PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
  if (input.title.find('\0') != std::string::npos) {
    return badField("title", "title must not contain NUL characters");
  }
  if (input.description.find('\0') != std::string::npos) {
    return badField("description", "description must not contain NUL characters");
  }
  return input;
}

std::optional<int64_t> parseMovieId(const std::string& text) {
  if (text.empty() || text.size() > 19) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value == 0 || value > static_cast<uint64_t>(INT64_MAX)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

StatusOr<MovieQuery> parseMovieQuery(const http::Request& request) {
  MovieQuery query;
  query.title = request.queryParam("title");
  if (query.title && query.title->find('\0') != std::string::npos) {
    return badField("title", "title must not contain NUL characters");
  }
  if (query.title && !http::isValidUtf8(*query.title)) {
    return badField("title", "title must be valid UTF-8");
  }
  if (auto limit = request.queryParam("limit")) {
    auto value = parseNonNegative(*limit);
    if (!value || *value > kMaxLimit) {
      return badField("limit", "limit must be a whole number from 0 to " + std::to_string(kMaxLimit));
    }
    query.limit = value;
  }
  if (auto offset = request.queryParam("offset")) {
    auto value = parseNonNegative(*offset);
    if (!value) {
      return badField("offset", "offset must be a whole number >= 0");
    }
    query.offset = *value;
  }
  if (auto afterId = request.queryParam("after_id")) {
    auto value = *afterId == "0" ? std::optional<int64_t>(0) : parseMovieId(*afterId);
    if (!value) {
      return badField("after_id",
                      "after_id must be 0 or a movie id (a whole number up to 9223372036854775807)");
    }
    query.afterId = value;
  }
  return query;
}

std::string nextPageLink(const std::vector<std::pair<std::string, std::string>>& query, int64_t lastId) {
  // title and limit first, in that order, whatever order the server kept them in (Pistache keeps the query
  // in a hash map), so the same page always has the same Link; any other parameter after them.
  std::vector<std::pair<std::string, std::string>> next;
  for (const char* name : {"title", "limit"}) {
    for (const auto& pair : query) {
      if (pair.first == name) {
        next.push_back(pair);
      }
    }
  }
  for (const auto& pair : query) {
    if (pair.first != "title" && pair.first != "limit" && pair.first != "after_id" &&
        pair.first != "offset") {
      next.push_back(pair);
    }
  }
  next.emplace_back("after_id", std::to_string(lastId));
  return "</api/movies?" + http::formatQuery(next) + ">; rel=\"next\"";
}

std::string containsPattern(const std::string& text) {
  std::string pattern = "%";
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') {
      pattern.push_back('\\');
    }
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

}  // namespace mp::inventory
