#include "support/database.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "support/broker.h"

namespace mp::test {
namespace {

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// Swaps the database name at the end of a libpq URI (postgresql://user@host:port/db[?params]).
std::string withDatabase(const std::string& url, const std::string& database) {
  const std::size_t query = url.find('?');
  const std::string base = url.substr(0, query);
  const std::string params = query == std::string::npos ? "" : url.substr(query);
  return base.substr(0, base.rfind('/') + 1) + database + params;
}

long queryCountOn(PGconn* conn, const std::string& sql) {
  PgResultPtr result(PQexec(conn, sql.c_str()));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) == 0) {
    return -1;
  }
  return std::stol(PQgetvalue(result.get(), 0, 0));
}

}  // namespace

TestDatabase::TestDatabase(const std::string& prefix) {
  adminUrl_ = requiredEnv("MP_TEST_PG_URL");
  if (adminUrl_.empty()) {
    return;
  }
  name_ = prefix + "_" + std::to_string(getpid());
  url_ = withDatabase(adminUrl_, name_);
  PgConnPtr admin = connect(adminUrl_, true);
  if (!admin) {
    return;
  }
  PgResultPtr drop(PQexec(admin.get(), ("DROP DATABASE IF EXISTS " + name_).c_str()));
  PgResultPtr create(PQexec(admin.get(), ("CREATE DATABASE " + name_).c_str()));
  ready_ = PQresultStatus(create.get()) == PGRES_COMMAND_OK;
  EXPECT_TRUE(ready_) << PQerrorMessage(admin.get());
}

TestDatabase::~TestDatabase() {
  if (!ready_) {
    return;
  }
  PgConnPtr admin = connect(adminUrl_, false);
  if (admin) {
    // FORCE: a killed service may have left sessions behind.
    PgResultPtr drop(PQexec(admin.get(), ("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").c_str()));
  }
}

PgConnPtr TestDatabase::connect(const std::string& url, bool reportFailure) {
  PgConnPtr conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    if (reportFailure) {
      ADD_FAILURE() << "cannot connect to " << url << ": " << PQerrorMessage(conn.get());
    }
    return nullptr;
  }
  return conn;
}

std::string TestDatabase::queryValue(const std::string& sql) {
  PgConnPtr conn = connect(url_, true);
  if (!conn) {
    return "";
  }
  PgResultPtr result(PQexec(conn.get(), sql.c_str()));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << sql << ": " << PQerrorMessage(conn.get());
    return "";
  }
  return PQntuples(result.get()) > 0 ? PQgetvalue(result.get(), 0, 0) : "";
}

long TestDatabase::queryCount(const std::string& sql) {
  PgConnPtr conn = connect(url_, false);
  return conn ? queryCountOn(conn.get(), sql) : -1;
}

bool TestDatabase::execute(const std::string& sql) {
  PgConnPtr conn = connect(url_, true);
  if (!conn) {
    return false;
  }
  PgResultPtr result(PQexec(conn.get(), sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  EXPECT_TRUE(ok) << sql << ": " << PQerrorMessage(conn.get());
  return ok;
}

}  // namespace mp::test
