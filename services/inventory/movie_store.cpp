#include "inventory/movie_store.h"

namespace mp::inventory {
namespace {

std::vector<Movie> moviesOf(const pg::Result& result) {
  std::vector<Movie> movies;
  movies.reserve(static_cast<size_t>(result.rows()));
  for (int row = 0; row < result.rows(); ++row) {
    movies.push_back({result.integer(row, 0), result.text(row, 1), result.text(row, 2)});
  }
  return movies;
}

// The movie a statement returned; kNotFound when it returned none.
StatusOr<Movie> oneMovie(const pg::Result& result) {
  if (!result.ok()) {
    return result.status();
  }
  if (result.rows() == 0) {
    return Status::notFound("no movie has that id");
  }
  return moviesOf(result).front();
}

StatusOr<int64_t> rowCount(const pg::Result& result) {
  if (!result.ok()) {
    return result.status();
  }
  return result.affected();
}

}  // namespace

std::vector<pg::Statement> MovieStore::statements() {
  const std::string columns = "SELECT id, title, description FROM movies ";
  using pg::Retry;
  // Retry::kOnReconnect only where a second run answers as the first would (pg::Retry). A DELETE run again
  // after its answer was lost finds nothing: 404 or {"deleted": 0} for a delete that happened.
  return {
      // LIMIT NULL means no limit.
      {"movies_list", columns + "ORDER BY id LIMIT $1 OFFSET $2", Retry::kOnReconnect},
      // Keyset: the primary key's index starts at the first id after $1, so a page deep in the table costs
      // what the first does (OFFSET reads and drops every row it skips).
      {"movies_list_after", columns + "WHERE id > $1 ORDER BY id LIMIT $2 OFFSET $3", Retry::kOnReconnect},
      // ILIKE with a pattern from containsPattern(): served by the trigram index. Planned per call: the
      // generic plan of a prepared statement guesses the pattern's selectivity and walks the primary key.
      {"movies_search", columns + "WHERE title ILIKE $1 ORDER BY id LIMIT $2 OFFSET $3", Retry::kOnReconnect,
       true},
      {"movies_search_after", columns + "WHERE title ILIKE $1 AND id > $2 ORDER BY id LIMIT $3 OFFSET $4",
       Retry::kOnReconnect, true},
      {"movie_find", columns + "WHERE id = $1", Retry::kOnReconnect},
      {"movie_insert",
       "INSERT INTO movies (title, description) VALUES ($1, $2) RETURNING id, title, description",
       Retry::kNever},
      {"movie_update",
       "UPDATE movies SET title = $2, description = $3 WHERE id = $1 RETURNING id, title, description",
       Retry::kOnReconnect},
      {"movie_delete", "DELETE FROM movies WHERE id = $1", Retry::kNever},
      {"movies_delete_all", "DELETE FROM movies", Retry::kNever},
  };
}

std::vector<pg::Migration> MovieStore::migrations() {
  return {
      {1, "create movies",
       "CREATE TABLE IF NOT EXISTS movies (id bigserial PRIMARY KEY, title text NOT NULL, "
       "description text NOT NULL DEFAULT '')"},
      {2, "trigram index for case-insensitive title search",
       "CREATE EXTENSION IF NOT EXISTS pg_trgm; "
       "CREATE INDEX IF NOT EXISTS movies_title_trgm ON movies USING gin (title gin_trgm_ops)"},
  };
}

StatusOr<MoviePage> MovieStore::list(const MovieQuery& query) {
  // One row more than the page: whether another page follows, without a second statement.
  // (Built as text directly: GCC 12 at -O1 under ThreadSanitizer took an optional<int64_t> here for
  // maybe-uninitialized.)
  std::optional<std::string> rows;
  if (query.limit) {
    rows = std::to_string(*query.limit + 1);
  }
  pg::Params params;
  if (query.title) {
    params.push_back(containsPattern(*query.title));
  }
  if (query.afterId) {
    params.push_back(std::to_string(*query.afterId));
  }
  params.push_back(rows);
  params.push_back(std::to_string(query.offset));
  const char* statement = query.title ? (query.afterId ? "movies_search_after" : "movies_search")
                                      : (query.afterId ? "movies_list_after" : "movies_list");
  auto result = pool_.runAndWait(statement, params);
  if (!result.ok()) {
    return result.status();
  }
  MoviePage page;
  page.movies = moviesOf(result);
  if (query.limit && static_cast<int64_t>(page.movies.size()) > *query.limit) {
    page.movies.pop_back();
    page.more = true;
  }
  return page;
}

void MovieStore::find(int64_t id, Done<Movie> done) {
  pool_.run("movie_find", {std::to_string(id)},
            [done = std::move(done)](pg::Result result) { done(oneMovie(result)); });
}

void MovieStore::create(const MovieInput& input, Done<Movie> done) {
  pool_.run("movie_insert", {input.title, input.description},
            [done = std::move(done)](pg::Result result) { done(oneMovie(result)); });
}

void MovieStore::update(int64_t id, const MovieInput& input, Done<Movie> done) {
  pool_.run("movie_update", {std::to_string(id), input.title, input.description},
            [done = std::move(done)](pg::Result result) { done(oneMovie(result)); });
}

void MovieStore::remove(int64_t id, Done<int64_t> done) {
  pool_.run("movie_delete", {std::to_string(id)},
            [done = std::move(done)](pg::Result result) { done(rowCount(result)); });
}

void MovieStore::removeAll(Done<int64_t> done) {
  pool_.run("movies_delete_all", {}, [done = std::move(done)](pg::Result result) { done(rowCount(result)); });
}

}  // namespace mp::inventory
