#pragma once

#include <vector>

#include "base/status.h"
#include "common/postgres.h"
#include "inventory/movie.h"

namespace mp::inventory {

// The movies table: its schema migrations and every statement the API runs, prepared on each pooled
// connection. Thread-safe (each call leases its own connection). A failure is the database's
// (pg::Result::status(): kUnavailable when it did not answer); find and update say kNotFound when no
// movie has the id.
class MovieStore {
 public:
  explicit MovieStore(pg::Pool& pool) : pool_(pool) {}

  static std::vector<pg::Statement> statements();
  static std::vector<pg::Migration> migrations();

  StatusOr<std::vector<Movie>> list(const MovieQuery& query);
  StatusOr<Movie> find(int64_t id);
  StatusOr<Movie> create(const MovieInput& input);
  StatusOr<Movie> update(int64_t id, const MovieInput& input);
  StatusOr<int64_t> remove(int64_t id);  // rows deleted: 0 or 1
  StatusOr<int64_t> removeAll();

 private:
  pg::Pool& pool_;
};

}  // namespace mp::inventory
