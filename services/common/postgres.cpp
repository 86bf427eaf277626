#include "common/postgres.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <functional>

#include "base/log.h"

namespace mp::pg {
namespace {

using Clock = std::chrono::steady_clock;

std::string trimmed(const char* text) {
  std::string out = text ? text : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

}  // namespace

struct Pool::Slot {
  ConnectionPtr conn;
  std::vector<bool> prepared;  // by index in the pool's statements, for this connection
  Clock::time_point nextAttempt{};
  std::chrono::milliseconds backoff{0};
  bool leased = false;
};

std::string Result::sqlState() const {
  const char* state = result_ ? PQresultErrorField(result_.get(), PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

bool Result::refusedTheData() const {
  if (ok()) {
    return false;
  }
  const std::string state = sqlState();
  return state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0;
}

int64_t Result::affected() const {
  if (!result_) {
    return 0;
  }
  const char* tuples = PQcmdTuples(result_.get());
  return (tuples && *tuples) ? std::stoll(tuples) : 0;
}

ConnectParams::ConnectParams(const std::string& url, const PoolOptions& options)
    : connectTimeout_(std::to_string(std::max<int64_t>(1, options.connectTimeout.count() / 1000))),
      serverOptions_("-c statement_timeout=" + std::to_string(options.statementTimeout.count())) {
  // An idle connection to a vanished server is found by keepalives (10 s idle, then 3 probes 5 s apart);
  // one with unacknowledged data by tcp_user_timeout; one whose peer still acknowledges but never answers
  // (a hung server, a proxy) only by the answer timeout (answerLimit()).
  keywords_ = {"connect_timeout",     "options",          "application_name", "keepalives", "keepalives_idle",
               "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname",     nullptr};
  values_ = {connectTimeout_.c_str(),
             serverOptions_.c_str(),
             options.applicationName.c_str(),
             "1",
             "10",
             "5",
             "3",
             "10000",
             url.c_str(),
             nullptr};
}

ConnectionGauges::ConnectionGauges(ServiceMetrics* metrics, const std::string& service) {
  if (metrics == nullptr) {
    return;
  }
  auto& family = prometheus::BuildGauge()
                     .Name("db_pool_connections")
                     .Help("PostgreSQL pool connections by state: idle, in_use, down (not connected).")
                     .Register(metrics->registry());
  idle_ = &family.Add({{"service", service}, {"state", "idle"}});
  inUse_ = &family.Add({{"service", service}, {"state", "in_use"}});
  down_ = &family.Add({{"service", service}, {"state", "down"}});
}

void ConnectionGauges::set(double idle, double inUse, double down) {
  if (idle_ == nullptr) {
    return;
  }
  idle_->Set(idle);
  inUse_->Set(inUse);
  down_->Set(down);
}

void ConnectionGauges::add(double idle, double inUse, double down) {
  if (idle_ == nullptr) {
    return;
  }
  idle_->Increment(idle);
  inUse_->Increment(inUse);
  down_->Increment(down);
}

std::string connectionError(PGconn* conn) {
  return trimmed(conn ? PQerrorMessage(conn) : "out of memory");
}

std::chrono::milliseconds answerLimit(const PoolOptions& options) {
  return options.answerTimeout.count() > 0 ? options.answerTimeout
                                           : options.statementTimeout + std::chrono::milliseconds(2000);
}

bool succeeded(const PGresult* result) {
  const auto status = PQresultStatus(result);
  return status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
}

Result classify(PGconn* conn, ResultPtr result) {
  if (succeeded(result.get())) {
    return Result(std::move(result), okStatus());
  }
  std::string message = trimmed(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return Result(std::move(result), Status::unavailable("database connection lost: " + message));
  }
  const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlState = state ? state : "";
  if (!sqlState.empty()) {
    message += " (SQLSTATE " + sqlState + ")";
  }
  if (sqlState == "23505") {
    return Result(std::move(result), Status::conflict(message));
  }
  if (sqlState == "23514") {
    return Result(std::move(result), Status::invalidArgument(message));
  }
  // 57014: statement_timeout; 57P01..57P03: the server is shutting down or not accepting.
  if (sqlState.rfind("57", 0) == 0 || sqlState.rfind("08", 0) == 0) {
    return Result(std::move(result), Status::unavailable(message));
  }
  return Result(std::move(result), Status::internal(message));
}

Pool::Pool(std::string url, std::vector<Statement> statements, PoolOptions options, ServiceMetrics* metrics,
           const std::string& service)
    : url_(std::move(url)),
      statements_(std::move(statements)),
      options_(std::move(options)),
      gauges_(metrics, service) {
  for (size_t i = 0; i < std::max<size_t>(options_.size, 1); ++i) {
    slots_.push_back(std::make_unique<Slot>());
    idle_.push_back(slots_.back().get());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  updateGauges();
}

Pool::~Pool() = default;

void Pool::updateGauges() {
  double idle = 0, busy = 0, down = 0;
  for (const auto& slot : slots_) {
    if (slot->leased) {
      ++busy;
    } else if (slot->conn) {
      ++idle;
    } else {
      ++down;
    }
  }
  gauges_.set(idle, busy, down);
}

std::optional<Pool::Lease> Pool::acquire(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!available_.wait_for(lock, wait, [this] { return !idle_.empty(); })) {
    return std::nullopt;
  }
  // Prefer a connected slot so that one dead connection does not fail requests a live one could serve.
  auto it = std::find_if(idle_.begin(), idle_.end(), [](Slot* s) { return s->conn != nullptr; });
  if (it == idle_.end()) {
    it = idle_.begin();
  }
  Slot* slot = *it;
  idle_.erase(it);
  slot->leased = true;
  updateGauges();
  return Lease(this, slot);
}

void Pool::release(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    slot->leased = false;
    idle_.push_back(slot);
    updateGauges();
  }
  available_.notify_one();
}

Result Pool::run(const std::string& statement, const Params& params, std::chrono::milliseconds wait) {
  auto lease = acquire(wait);
  if (!lease) {
    return Result(nullptr, Status::unavailable("no database connection became free in time"));
  }
  return lease->execute(statement, params);
}

Status Pool::ping() {
  auto lease = acquire(std::chrono::milliseconds(1000));
  if (!lease) {
    return Status::unavailable("no database connection became free in time");
  }
  return lease->exec("SELECT 1").status().withContext("database");
}

Pool::Lease::~Lease() {
  if (slot_) {
    pool_->release(slot_);
  }
}

Status Pool::Lease::ensureConnected() {
  Slot& slot = *slot_;
  if (slot.conn && PQstatus(slot.conn.get()) == CONNECTION_OK) {
    return okStatus();
  }
  slot.conn.reset();
  auto now = Clock::now();
  if (now < slot.nextAttempt) {
    return Status::unavailable(
        "database unavailable (next reconnect attempt in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(slot.nextAttempt - now).count()) +
        " ms)");
  }
  ConnectParams params(pool_->url_, pool_->options_);
  ConnectionPtr conn(PQconnectdbParams(params.keywords(), params.values(), 1));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    slot.backoff =
        std::min(pool_->options_.maxBackoff, std::max(std::chrono::milliseconds(100), slot.backoff * 2));
    slot.nextAttempt = Clock::now() + slot.backoff;
    return Status::unavailable("database unavailable: " + connectionError(conn.get()));
  }
  slot.backoff = std::chrono::milliseconds(0);
  slot.conn = std::move(conn);
  slot.prepared.assign(pool_->statements_.size(), false);
  return okStatus();
}

bool Pool::Lease::dropIfLost() {
  if (slot_->conn && PQstatus(slot_->conn.get()) == CONNECTION_OK) {
    return false;
  }
  // The server went away (restart, failover) or never answered: reconnect on the next use without waiting.
  slot_->conn.reset();
  slot_->nextAttempt = {};
  return true;
}

Result Pool::Lease::awaitAnswer(bool sent) {
  PGconn* conn = slot_->conn.get();
  if (!sent) {
    return classify(conn, nullptr);
  }
  const auto limit = answerLimit(pool_->options_);
  const Clock::time_point deadline = Clock::now() + limit;
  // Like PQexec: the first error, or else the last result (a multi-statement string has one per statement).
  ResultPtr answer;
  for (;;) {
    while (PQisBusy(conn) != 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= std::chrono::milliseconds(0)) {
        slot_->conn.reset();
        slot_->nextAttempt = {};
        return Result(nullptr, Status::unavailable("database connection lost: no answer within " +
                                                   std::to_string(limit.count()) + " ms"));
      }
      pollfd ready{PQsocket(conn), POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
        break;
      }
      if (PQconsumeInput(conn) == 0) {
        break;  // the connection failed: PQgetResult reports it
      }
    }
    ResultPtr next(PQgetResult(conn));
    if (!next) {
      break;
    }
    if (!answer || succeeded(answer.get())) {
      answer = std::move(next);
    }
    if (PQstatus(conn) != CONNECTION_OK) {
      break;
    }
  }
  return classify(conn, std::move(answer));
}

Result Pool::Lease::execute(const std::string& statement, const Params& params) {
  const auto& statements = pool_->statements_;
  auto known = std::find_if(statements.begin(), statements.end(),
                            [&](const Statement& s) { return s.name == statement; });
  if (known == statements.end()) {
    return Result(nullptr, Status::internal("unknown statement " + statement));
  }
  const size_t index = static_cast<size_t>(known - statements.begin());
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) {
    values.push_back(param ? param->c_str() : nullptr);
  }
  for (int attempt = 0;; ++attempt) {
    if (Status connected = ensureConnected(); !connected.ok()) {
      return Result(nullptr, connected);
    }
    PGconn* conn = slot_->conn.get();
    // Prepared on first use per connection, so that statements may name tables migrations create.
    if (!known->planEachCall && !slot_->prepared[index]) {
      Result prepared =
          awaitAnswer(PQsendPrepare(conn, known->name.c_str(), known->sql.c_str(), 0, nullptr) == 1);
      if (!prepared.ok()) {
        // Nothing ran yet: a connection the server closed may be retried whatever the statement.
        const bool gaveUp = !slot_->conn;
        if (dropIfLost() && !gaveUp && attempt == 0) {
          continue;
        }
        return prepared;
      }
      slot_->prepared[index] = true;
    }
    const int count = static_cast<int>(values.size());
    const bool sent =
        (known->planEachCall
             ? PQsendQueryParams(conn, known->sql.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0)
             : PQsendQueryPrepared(conn, statement.c_str(), count, values.data(), nullptr, nullptr, 0)) == 1;
    Result result = awaitAnswer(sent);
    // A connection awaitAnswer gave up on is gone already and is not retried: a server that does not
    // answer would only make the caller wait twice. One the server closed is.
    const bool gaveUp = !slot_->conn;
    if (dropIfLost() && !gaveUp && attempt == 0 && known->retry == Retry::kOnReconnect) {
      continue;
    }
    return result;
  }
}

Result Pool::Lease::exec(const std::string& sql, const Params& params) {
  if (Status connected = ensureConnected(); !connected.ok()) {
    return Result(nullptr, connected);
  }
  PGconn* conn = slot_->conn.get();
  std::vector<const char*> values;
  for (const auto& param : params) {
    values.push_back(param ? param->c_str() : nullptr);
  }
  // Without parameters, the simple protocol: it accepts several statements at once (migrations need that).
  const bool sent = (params.empty() ? PQsendQuery(conn, sql.c_str())
                                    : PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()),
                                                        nullptr, values.data(), nullptr, nullptr, 0)) == 1;
  Result result = awaitAnswer(sent);
  dropIfLost();
  return result;
}

Status migrate(Pool& pool, const std::string& component, const std::vector<Migration>& migrations) {
  auto lease = pool.acquire(std::chrono::milliseconds(5000));
  if (!lease) {
    return Status::unavailable("no database connection became free for migrations");
  }
  // A stable lock key per component, so that two replicas never migrate at once.
  int64_t key =
      static_cast<int64_t>(std::hash<std::string>{}("movie-platform:" + component) & 0x7fffffffffffLL);
  auto step = [&](const std::string& sql) { return lease->exec(sql).status(); };
  if (Status locked = step("SELECT pg_advisory_lock(" + std::to_string(key) + ")"); !locked.ok()) {
    return locked;
  }
  Status error = step(
      "CREATE TABLE IF NOT EXISTS schema_migrations (component text NOT NULL, version integer NOT NULL, "
      "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, "
      "version))");
  int current = 0;
  if (error.ok()) {
    auto result = lease->exec("SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1",
                              {component});
    if (result.ok()) {
      current = static_cast<int>(result.integer(0, 0));
    } else {
      error = result.status();
    }
  }
  for (const auto& migration : migrations) {
    if (!error.ok()) {
      break;
    }
    if (migration.version <= current) {
      continue;
    }
    error = step("BEGIN");
    if (error.ok()) {
      error = step(migration.sql);
    }
    if (error.ok()) {
      auto record =
          lease->exec("INSERT INTO schema_migrations (component, version, description) VALUES ($1, $2, $3)",
                      {component, std::to_string(migration.version), migration.description});
      error = record.status();
    }
    if (error.ok()) {
      error = step("COMMIT");
    }
    if (!error.ok()) {
      step("ROLLBACK");
      error = error.withContext("migration " + std::to_string(migration.version) + " (" +
                                migration.description + ")");
    } else {
      log::info(
          "db_migrated",
          {{"component", component}, {"version", migration.version}, {"description", migration.description}});
    }
  }
  step("SELECT pg_advisory_unlock(" + std::to_string(key) + ")");
  return error;
}

}  // namespace mp::pg
