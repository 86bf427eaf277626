#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"

namespace mp::pg {

struct ConnectionDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ConnectionPtr = std::unique_ptr<PGconn, ConnectionDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

enum class ErrorKind {
  kNone,
  kUnavailable,      // no connection to the server (down, restarting, unreachable)
  kUniqueViolation,  // SQLSTATE 23505
  kCheckViolation,   // SQLSTATE 23514
  kQuery,            // any other error the server reported
};

// The outcome of one statement: rows on success, the kind of failure otherwise. Move-only value.
class Result {
 public:
  Result() = default;
  Result(ResultPtr result, ErrorKind error, std::string message)
      : result_(std::move(result)), error_(error), message_(std::move(message)) {}

  bool ok() const { return error_ == ErrorKind::kNone; }
  ErrorKind error() const { return error_; }
  const std::string& message() const { return message_; }

  int rows() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool isNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
  int64_t integer(int row, int column) const { return std::stoll(PQgetvalue(result_.get(), row, column)); }
  // Rows touched by INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  ResultPtr result_;
  ErrorKind error_ = ErrorKind::kUnavailable;
  std::string message_;
};

// A statement prepared on every connection of a pool when the connection is made.
struct Statement {
  std::string name;
  std::string sql;
  // Safe to run twice: a read, or a write whose repetition changes nothing. Such statements are
  // retried once on a fresh connection when the old one turns out to be dead (server restarted).
  bool idempotent = false;
  // Planned anew with each call's values instead of prepared once: for statements whose best plan depends
  // on a value (a LIKE pattern: a generic plan cannot see the pattern, so it never picks a trigram index).
  bool planEachCall = false;
};

using Params = std::vector<std::optional<std::string>>;

struct PoolOptions {
  size_t size = 4;
  std::chrono::milliseconds connectTimeout{2000};
  std::chrono::milliseconds statementTimeout{5000};
  std::chrono::milliseconds maxBackoff{1000};
  std::string applicationName = "movie-platform";
};

// A fixed number of libpq connections to one database. A connection is leased to one thread at a time
// (never shared), reconnects lazily with capped exponential backoff after the server went away, and
// prepares the pool's statements on each new connection. Thread-safe.
class Pool {
 public:
  class Lease;

  Pool(std::string url, std::vector<Statement> statements, PoolOptions options, ServiceMetrics* metrics,
       const std::string& service);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Waits up to `wait` for a free connection; nullopt when none became free.
  std::optional<Lease> acquire(std::chrono::milliseconds wait);

  // Runs a prepared statement on a leased connection.
  Result run(const std::string& statement, const Params& params,
             std::chrono::milliseconds wait = std::chrono::milliseconds(2000));

  // True when a connection answers a trivial query now.
  bool ping(std::string* reason);

  size_t size() const { return slots_.size(); }

  struct Slot;

 private:
  friend class Lease;
  void release(Slot* slot);
  void updateGauges();

  std::string url_;
  std::vector<Statement> statements_;
  PoolOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> idle_;
  std::mutex mutex_;
  std::condition_variable available_;
  prometheus::Gauge* idleGauge_ = nullptr;
  prometheus::Gauge* busyGauge_ = nullptr;
  prometheus::Gauge* downGauge_ = nullptr;
};

// One connection of the pool, held by one thread until the lease ends. Not thread-safe.
class Pool::Lease {
 public:
  Lease(Pool* pool, Slot* slot) : pool_(pool), slot_(slot) {}
  Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) { other.slot_ = nullptr; }
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  Result execute(const std::string& statement, const Params& params);
  // Unprepared SQL with $1.. parameters (transactions, migrations, one-off statements).
  Result exec(const std::string& sql, const Params& params = {});
  // Connects now if the connection is down and the backoff allows; false when unavailable.
  bool ensureConnected(std::string* reason);

 private:
  Pool* pool_;
  Slot* slot_;
};

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// Applies the migrations newer than the database's recorded version, each in its own transaction,
// under an advisory lock so that replicas starting together do not race. Returns an error text, or "".
std::string migrate(Pool& pool, const std::string& component, const std::vector<Migration>& migrations);

}  // namespace mp::pg
