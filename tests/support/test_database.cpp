#include "support/test_database.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace mp::test {
namespace {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using Res = std::unique_ptr<PGresult, ResultCloser>;

// Runs SQL on `conn` and returns the first column of the first row ("" when none); throws on failure.
std::string firstValue(PGconn* conn, const std::string& sql) {
  Res result(PQexec(conn, sql.c_str()));
  auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error("SQL failed (" + sql + "): " + PQresultErrorMessage(result.get()));
  }
  if (status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0 && PQnfields(result.get()) > 0) {
    return PQgetvalue(result.get(), 0, 0);
  }
  return "";
}

std::string run(const std::string& url, const std::string& sql) {
  Conn conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to test PostgreSQL: " + std::string(PQerrorMessage(conn.get())));
  }
  return firstValue(conn.get(), sql);
}

std::string withDatabase(const std::string& adminUrl, const std::string& database) {
  auto slash = adminUrl.rfind('/');
  return adminUrl.substr(0, slash + 1) + database;
}

}  // namespace

uint16_t TestDatabase::port() const {
  return static_cast<uint16_t>(std::stoi(url_.substr(url_.rfind(':') + 1)));
}

std::string TestDatabase::urlWithPort(uint16_t port) const {
  const std::size_t colon = url_.rfind(':');
  return url_.substr(0, colon + 1) + std::to_string(port) + url_.substr(url_.find('/', colon));
}

std::string TestDatabase::adminUrl() {
  const char* url = std::getenv("MP_TEST_PG_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error("MP_TEST_PG_URL is not set: run the tests through scripts/test");
  }
  return url;
}

void TestDatabase::execAdmin(const std::string& sql) {
  run(adminUrl(), sql);
}

TestDatabase::TestDatabase(const std::string& prefix) {
  static std::atomic<int> counter{0};
  name_ = prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  execAdmin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  execAdmin("CREATE DATABASE " + name_);
  url_ = withDatabase(adminUrl(), name_);
}

TestDatabase::~TestDatabase() {
  try {
    execAdmin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The server may be stopped by the test that owns this database; scripts/test discards it anyway.
  }
}

std::string TestDatabase::scalar(const std::string& sql) {
  return run(url_, sql);
}

SqlSession::SqlSession(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string error = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw std::runtime_error("cannot connect to test PostgreSQL: " + error);
  }
}

SqlSession::~SqlSession() {
  PQfinish(conn_);
}

std::string SqlSession::scalar(const std::string& sql) {
  return firstValue(conn_, sql);
}

void SqlSession::start(const std::string& sql) {
  if (PQsendQuery(conn_, sql.c_str()) != 1) {
    throw std::runtime_error("cannot send (" + sql + "): " + PQerrorMessage(conn_));
  }
}

std::string SqlSession::finish() {
  std::string error;
  while (PGresult* raw = PQgetResult(conn_)) {
    Res result(raw);
    auto status = PQresultStatus(raw);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && error.empty()) {
      error = PQresultErrorMessage(raw);
      if (error.empty()) {
        error = "failed";
      }
    }
  }
  return error;
}

int SqlSession::backendPid() {
  return PQbackendPID(conn_);
}

}  // namespace mp::test
