#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "http/metrics.h"

namespace mp::pg {

struct ConnectionDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ConnectionPtr = std::unique_ptr<PGconn, ConnectionDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// The outcome of one statement: its rows on success, its failure as a Status otherwise. Move-only value.
// The failure's code:
//   kUnavailable      no answer: no connection, the connection was lost, no answer within the deadline,
//                     or the server is shutting down or cancelled the statement (SQLSTATE classes 08, 57)
//   kConflict         unique violation (SQLSTATE 23505)
//   kInvalidArgument  check violation (SQLSTATE 23514)
//   kInternal         any other error the server reported (or an unknown statement)
// sqlState() and refusedTheData() tell apart what one code covers (billing holds a batch the server
// refused for a privilege, 42501, and dead-letters only orders whose data it refused).
class Result {
 public:
  Result() = default;
  Result(ResultPtr result, Status status) : result_(std::move(result)), status_(std::move(status)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // The server's five-character SQLSTATE; "" when the server did not answer.
  std::string sqlState() const;
  // The server refused the statement's values: SQLSTATE class 22 (data exception) or 23 (integrity
  // constraint violation). Any other failure says nothing about the values and may pass with time.
  bool refusedTheData() const;

  int rows() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool isNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
  int64_t integer(int row, int column) const { return std::stoll(PQgetvalue(result_.get(), row, column)); }
  // Rows touched by INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  ResultPtr result_;
  Status status_ = Status::unavailable("");  // no statement ran
};

// Whether a statement whose connection was lost before its answer arrived is sent again, once, on a fresh
// connection. Only for statements idempotent in their answer: running them twice gives the caller the same
// answer as running them once (reads; an UPDATE ... RETURNING of given values). Never for a statement
// whose answer changes when it already ran (an INSERT creates a second row; a DELETE's second run finds
// nothing and its row count, 0, would say the delete did not happen): the caller gets kUnavailable.
enum class Retry { kNever, kOnReconnect };

// A statement prepared on each connection of a pool on its first use there.
struct Statement {
  std::string name;
  std::string sql;
  Retry retry = Retry::kNever;  // every statement states its choice (see Retry)
  // Planned anew with each call's values instead of prepared once: for statements whose best plan depends
  // on a value (a LIKE pattern: a generic plan cannot see the pattern, so it never picks a trigram index).
  bool planEachCall = false;
};

using Params = std::vector<std::optional<std::string>>;

struct PoolOptions {
  size_t size = 4;
  // libpq's connect_timeout (whole seconds, at least 1): the whole start-up, TCP to authentication.
  std::chrono::milliseconds connectTimeout{2000};
  // The server's statement_timeout for each connection (unless the URL sets `options` itself).
  std::chrono::milliseconds statementTimeout{5000};
  // Client side: the longest wait for a statement's answer. A server that vanished without closing the
  // connection never sends one; past this the connection is dropped and the statement is kUnavailable.
  // Zero: statementTimeout + 2 s (a live server answers by then, with 57014 at worst).
  std::chrono::milliseconds answerTimeout{0};
  std::chrono::milliseconds maxBackoff{1000};
  std::string applicationName = "movie-platform";
};

// The libpq keywords and values every pooled connection opens with: the pool's timeouts, keepalives and
// application name first, the URL last (libpq lets later keywords override, so the URL's own settings win).
// Holds the strings the arrays point into: not copyable.
class ConnectParams {
 public:
  ConnectParams(const std::string& url, const PoolOptions& options);
  ConnectParams(const ConnectParams&) = delete;
  ConnectParams& operator=(const ConnectParams&) = delete;
  const char* const* keywords() const { return keywords_.data(); }
  const char* const* values() const { return values_.data(); }

 private:
  std::string connectTimeout_;
  std::string serverOptions_;
  std::vector<const char*> keywords_;
  std::vector<const char*> values_;
};

// db_pool_connections{service, state}: one pool's connections by state (idle, in_use, down: not
// connected). Without metrics it records nothing.
class ConnectionGauges {
 public:
  ConnectionGauges(ServiceMetrics* metrics, const std::string& service);
  void set(double idle, double inUse, double down);
  // Adds to each count (several owners of one service's connections: the loops of an AsyncPool).
  void add(double idle, double inUse, double down);

 private:
  prometheus::Gauge* idle_ = nullptr;
  prometheus::Gauge* inUse_ = nullptr;
  prometheus::Gauge* down_ = nullptr;
};

// The client side's longest wait for an answer (PoolOptions::answerTimeout, or its default).
std::chrono::milliseconds answerLimit(const PoolOptions& options);
// A connection's last error, one line ("out of memory" without a connection).
std::string connectionError(PGconn* conn);
// PGRES_TUPLES_OK or PGRES_COMMAND_OK.
bool succeeded(const PGresult* result);
// A statement's outcome from its answer on `conn` (null: none came), with the codes of Result.
Result classify(PGconn* conn, ResultPtr result);

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
  Status ping();

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
  std::vector<Slot*> idle_;  // guarded by mutex_
  std::mutex mutex_;
  std::condition_variable available_;
  ConnectionGauges gauges_;
};

// One connection of the pool, held by one thread until the lease ends. Not thread-safe.
class Pool::Lease {
 public:
  Lease(Pool* pool, Slot* slot) : pool_(pool), slot_(slot) {}
  Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) { other.slot_ = nullptr; }
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  // Both wait for the answer at most the pool's answer timeout.
  Result execute(const std::string& statement, const Params& params);
  // Unprepared SQL with $1.. parameters (transactions, migrations, one-off statements). Never retried.
  Result exec(const std::string& sql, const Params& params = {});
  // Connects now if the connection is down and the backoff allows; kUnavailable, with why, otherwise.
  Status ensureConnected();

 private:
  // Waits for the answer to what was just sent on the lease's connection, up to the answer timeout.
  Result awaitAnswer(bool sent);
  // After a failure: forgets a connection that is no longer usable; true when it was dropped.
  bool dropIfLost();

  Pool* pool_;
  Slot* slot_;
};

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// Applies the migrations newer than the database's recorded version, each in its own transaction,
// under an advisory lock so that replicas starting together do not race. The first failure, with the
// migration it was in as context.
Status migrate(Pool& pool, const std::string& component, const std::vector<Migration>& migrations);

}  // namespace mp::pg
