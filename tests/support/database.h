#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>

namespace mp::test {

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;

// A database of its own for one test program on the PostgreSQL scripts/test started (MP_TEST_PG_URL),
// created empty and dropped on destruction. Not thread-safe.
class TestDatabase {
 public:
  // `prefix` names the database `<prefix>_<pid>` so parallel programs never share one.
  explicit TestDatabase(const std::string& prefix);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  bool ready() const { return ready_; }
  const std::string& url() const { return url_; }

  // Runs `sql` and returns the first column of the first row ("" for none); a test failure on error.
  std::string queryValue(const std::string& sql);
  // Same, -1 on error or when the server is down (used while restarting it).
  long queryCount(const std::string& sql);
  bool execute(const std::string& sql);

 private:
  PgConnPtr connect(const std::string& url, bool reportFailure);

  std::string name_;
  std::string adminUrl_;
  std::string url_;
  bool ready_ = false;
};

}  // namespace mp::test
