#pragma once

#include <functional>
#include <vector>

#include "base/status.h"
#include "common/postgres.h"
#include "common/postgres_async.h"
#include "inventory/movie.h"

namespace mp::inventory {

// One answer of MovieStore::list: the movies, and whether any matching movie comes after them (only
// known for a list with a limit: one row more than the limit is read).
struct MoviePage {
  std::vector<Movie> movies;
  bool more = false;
};

// The movies table: its schema migrations and every statement the API runs, prepared on each pooled
// connection. Thread-safe. Each call but list() ends in `done`, exactly once, on the pool's loop thread:
// `done` must not block (pg::AsyncPool). list() blocks its caller, a worker thread, which turns the rows
// into movies itself: a list of every movie must not hold up the loop that answers all others. A failure is
// the database's (pg::Result::status(): kUnavailable when it did not answer); find and update say kNotFound
// when no movie has the id.
class MovieStore {
 public:
  template <typename T>
  using Done = std::function<void(StatusOr<T>)>;

  explicit MovieStore(pg::AsyncPool& pool) : pool_(pool) {}

  static std::vector<pg::Statement> statements();
  static std::vector<pg::Migration> migrations();

  StatusOr<MoviePage> list(const MovieQuery& query);
  void find(int64_t id, Done<Movie> done);
  void create(const MovieInput& input, Done<Movie> done);
  void update(int64_t id, const MovieInput& input, Done<Movie> done);
  void remove(int64_t id, Done<int64_t> done);  // rows deleted: 0 or 1
  void removeAll(Done<int64_t> done);

 private:
  pg::AsyncPool& pool_;
};

}  // namespace mp::inventory
