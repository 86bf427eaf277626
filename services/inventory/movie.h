#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "http/http.h"

namespace mp::inventory {

struct Movie {
  int64_t id = 0;
  std::string title;
  std::string description;
};

// {"id", "title", "description"} in that order, what people read first (docs/contract.md).
nlohmann::ordered_json toJson(const Movie& movie);
// The same as text, byte for byte toJson(movie).dump() (invalid UTF-8 replaced), written without a json
// object: every answer that carries movies (docs/performance.md).
std::string movieJson(const Movie& movie);
// A JSON array of movies, the same way.
std::string moviesJson(const std::vector<Movie>& movies);
// The same array's elements as a piece of it, for an array sent in pieces: each movie's text, separated
// by ',' and preceded by one unless the piece is the array's first (concatenated between '[' and ']',
// the pieces are moviesJson of all their movies).
std::string moviesJsonPiece(const std::vector<Movie>& movies, bool first);

// A movie's fields as a client sends them in POST and PUT.
struct MovieInput {
  std::string title;
  std::string description;
};

constexpr size_t kMaxTitleLength = 255;  // characters (code points)

// Validates a POST/PUT request: JSON object, `title` a string of 1..255 characters, `description` a
// string when present (default ""), no NUL characters; unknown fields are ignored. A failure is
// kInvalidArgument with the answer to give (http::Response::error(status)): parseJsonObject's, or 400
// invalid_field with the field.
StatusOr<MovieInput> parseMovieInput(const http::Request& request);

// A movie id from the path: a positive decimal integer within bigint; nullopt otherwise.
std::optional<int64_t> parseMovieId(const std::string& text);

// Which movies a list returns, in id order: those after `afterId` (keyset: the primary key finds the
// first at once), then `offset` more skipped (read and dropped: it costs what it skips), then `limit`.
struct MovieQuery {
  std::optional<std::string> title;  // case-insensitive substring
  std::optional<int64_t> limit;      // none: all
  int64_t offset = 0;
  std::optional<int64_t> afterId;  // none: from the first
};

constexpr int64_t kMaxLimit = 10000;

// Reads ?title=, ?limit= (0..10000), ?offset= (>= 0, at most 18 digits) and ?after_id= (0 or a movie id,
// up to 9223372036854775807); a failure is 400 invalid_field, as above.
StatusOr<MovieQuery> parseMovieQuery(const http::Request& request);

// The Link header value (RFC 8288) naming the page after one whose last movie is `lastId`:
// `</api/movies?QUERY>; rel="next"`, QUERY being the request's own parameters without after_id and offset
// (title, limit, then any other in the order given), then after_id=<lastId>.
std::string nextPageLink(const std::vector<std::pair<std::string, std::string>>& query, int64_t lastId);

// An ILIKE pattern matching `text` as a literal substring: escapes \, % and _.
std::string containsPattern(const std::string& text);

}  // namespace mp::inventory
