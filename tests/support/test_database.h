#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string>

namespace mp::test {

// A fresh, uniquely named database on the throw-away PostgreSQL that scripts/test started
// (MP_TEST_PG_URL), dropped again at destruction. Not thread-safe.
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& prefix);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // The server's port, and url() with another port in its place (a TcpProxy in front of the server).
  uint16_t port() const;
  std::string urlWithPort(uint16_t port) const;

  // Runs SQL on the test database and returns the first column of the first row ("" when none).
  // Throws std::runtime_error on failure.
  std::string scalar(const std::string& sql);

  // The superuser URL of the server's `postgres` database; throws when not run under scripts/test.
  static std::string adminUrl();

 private:
  static void execAdmin(const std::string& sql);

  std::string name_;
  std::string url_;
};

// One libpq connection a test holds open across statements (a transaction, a lock, a statement left
// running while the test goes on). Not thread-safe.
class SqlSession {
 public:
  explicit SqlSession(const std::string& url);
  ~SqlSession();
  SqlSession(const SqlSession&) = delete;
  SqlSession& operator=(const SqlSession&) = delete;

  // Runs SQL and returns the first column of the first row ("" when none); throws std::runtime_error.
  std::string scalar(const std::string& sql);
  // Sends SQL without waiting for its answer; finish() collects it. Throws when it cannot be sent.
  void start(const std::string& sql);
  // Waits for what start() sent; "" on success, the server's error message otherwise.
  std::string finish();
  int backendPid();

 private:
  PGconn* conn_ = nullptr;
};

}  // namespace mp::test
