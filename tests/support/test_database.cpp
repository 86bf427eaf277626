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

std::string run(const std::string& url, const std::string& sql) {
  Conn conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to test PostgreSQL: " + std::string(PQerrorMessage(conn.get())));
  }
  Res result(PQexec(conn.get(), sql.c_str()));
  auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error("SQL failed (" + sql + "): " + PQresultErrorMessage(result.get()));
  }
  if (status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0 && PQnfields(result.get()) > 0) {
    return PQgetvalue(result.get(), 0, 0);
  }
  return "";
}

std::string withDatabase(const std::string& adminUrl, const std::string& database) {
  auto slash = adminUrl.rfind('/');
  return adminUrl.substr(0, slash + 1) + database;
}

}  // namespace

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

}  // namespace mp::test
