#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/postgres.h"
#include "inventory/movie.h"

namespace mp::inventory {

// Storage outcome: the value, "not found", or the database failure behind it.
template <typename T>
struct Stored {
  std::optional<T> value;  // empty with error kNone: not found
  pg::ErrorKind error = pg::ErrorKind::kNone;
  std::string message;
  bool failed() const { return error != pg::ErrorKind::kNone; }
};

// The movies table: its schema migrations and every statement the API runs, prepared on each pooled
// connection. Thread-safe (each call leases its own connection).
class MovieStore {
 public:
  explicit MovieStore(pg::Pool& pool) : pool_(pool) {}

  static std::vector<pg::Statement> statements();
  static std::vector<pg::Migration> migrations();

  Stored<std::vector<Movie>> list(const MovieQuery& query);
  Stored<Movie> find(int64_t id);
  Stored<Movie> create(const MovieInput& input);
  Stored<Movie> update(int64_t id, const MovieInput& input);
  Stored<int64_t> remove(int64_t id);  // rows deleted: 0 or 1
  Stored<int64_t> removeAll();

 private:
  pg::Pool& pool_;
};

}  // namespace mp::inventory
