#include "common/postgres_async.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <future>

namespace mp::pg {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A call's statement: an index in the pool's statements, or this for ping()'s "SELECT 1".
constexpr size_t kPing = SIZE_MAX;
// How often a failing-over pool tries to reconnect (AsyncPoolOptions::failoverWait).
constexpr milliseconds kFailoverRetry{100};

struct Call {
  size_t statement = kPing;
  Params params;
  AsyncPool::Done done;
  Clock::time_point queuedAt;
  Clock::time_point sentAt;
  bool retried = false;
  // On its connection: commands whose answers are still to come before the call's sync point (the
  // prepare's, when it was sent with the call, then the statement's).
  int commandsLeft = 0;
  bool preparing = false;  // the answer being read is the prepare's
  ResultPtr answer;        // like PQexec: the first error, or else the last result
};

struct Connection {
  enum class State { kDown, kConnecting, kReady };
  EventLoop::Tag tag = 0;  // its index in the loop's connections
  State state = State::kDown;
  ConnectionPtr conn;
  int fd = -1;          // the socket registered with epoll, -1 for none
  uint32_t events = 0;  // what it is registered for
  std::vector<bool> prepared;
  std::deque<Call> inFlight;  // in the order sent, which is the order answered
  bool unflushed = false;     // statements sent since its last flush
  Clock::time_point connectDeadline;
  Clock::time_point nextAttempt{};
  milliseconds backoff{0};
};

Result failed(Status status) {
  return Result(nullptr, std::move(status));
}

}  // namespace

struct AsyncPool::Loop : EventLoop {
  std::string url;
  std::vector<Statement> statements;
  AsyncPoolOptions options;
  milliseconds answerTimeout;
  Inbox<Call> inbox{*this};  // calls from other threads, and from the loop's own

  // Loop thread only from here on.
  std::vector<std::unique_ptr<Connection>> connections;  // a connection's index is its tag in the epoll set
  std::deque<Call> waiting;
  std::vector<Connection*> unflushed;  // flushed once per turn of the loop: one write for all sent since
  std::string lastError = "database unavailable: not connected yet";
  // When a connection that worked was last lost (options.failoverWait counts from here).
  Clock::time_point lostWorkingAt{};
  ConnectionGauges& gauges;       // the pool's, shared by its loops: each adds what changed in its own counts
  double counted[3] = {0, 0, 0};  // idle, in use, down, as last added to the gauges

  Loop(std::string u, std::vector<Statement> s, AsyncPoolOptions o, size_t size, ConnectionGauges& g)
      : url(std::move(u)),
        statements(std::move(s)),
        options(std::move(o)),
        answerTimeout(answerLimit(options.pool)),
        gauges(g) {
    for (size_t i = 0; i < std::max<size_t>(size, 1); ++i) {
      connections.push_back(std::make_unique<Connection>());
      connections.back()->tag = i;
    }
    options.pipelineDepth = std::max<size_t>(options.pipelineDepth, 1);
  }

  void onReady(Tag tag, uint32_t events) override { handle(*connections.at(tag), events); }

  // After what was ready: the calls that arrived, deadlines, then sends.
  Wait onTurn() override;

  // Shutting down: nothing waits for an answer that will never come.
  void onShutdown() override;

  // -- Scheduling ---------------------------------------------------------------------------------------

  void queue(Call call);

  // Sends waiting calls, oldest first, while a connection has room; opens connections for the rest.
  void pump();

  // Every connection down and waiting out its backoff: the waiting calls end now rather than after
  // queueWait (a server that refuses or times out one connect would do the same to the next).
  void failIfAllDown();
  void failWaiting(const std::string& why);
  // Within failoverWait of losing a working connection: calls wait for the reconnect.
  bool failingOver(Clock::time_point now) const {
    return options.failoverWait.count() > 0 && lostWorkingAt != Clock::time_point{} &&
           now - lostWorkingAt < options.failoverWait;
  }

  // Past their deadlines: calls that waited too long for a connection, connects that hang, answers that
  // never come (a server that vanished without closing the connection).
  void expire(Clock::time_point now);

  // Until the nearest deadline, and at least once a second.
  Wait nextWait() const;
  void updateGauges();

  // -- One connection -----------------------------------------------------------------------------------

  // Registers the connection's current socket for `events` (libpq may change the socket while it
  // connects, trying the addresses of a name one by one).
  Status watchSocket(Connection& connection, uint32_t events);

  // A socket that cannot leave the set now leaves it when libpq closes it, right after.
  void unwatchSocket(Connection& connection);
  void startConnecting(Connection& connection);
  void continueConnecting(Connection& connection);

  // While connecting: a socket the loop cannot watch fails the connect.
  void watchOrFail(Connection& connection, uint32_t events);
  void connectFailed(Connection& connection, const std::string& why);

  // Forgets a connection that is no longer usable; the next call that needs it reconnects at once (the
  // server restarted or failed over, or never answered).
  void drop(Connection& connection);
  void failInFlight(Connection& connection, const std::string& why);

  // The server closed the connection or it broke: calls in flight that may run twice go first in the
  // queue again (once), the others end kUnavailable.
  void lost(Connection& connection) { lost(connection, connectionError(connection.conn.get())); }
  void lost(Connection& connection, const std::string& cause);
  void handle(Connection& connection, uint32_t events);
  void send(Connection& connection, Call call);
  void flushAll();
  void flush(Connection& connection);
  void readAnswers(Connection& connection);
};

Wait AsyncPool::Loop::onTurn() {
  for (auto& call : inbox.take()) {
    queue(std::move(call));
  }
  expire(Clock::now());
  pump();
  flushAll();
  updateGauges();
  return nextWait();
}

void AsyncPool::Loop::onShutdown() {
  for (auto& connection : connections) {
    failInFlight(*connection, "shutting down");
    connection->conn.reset();
  }
  std::deque<Call> left = std::move(waiting);
  waiting.clear();
  for (auto& call : inbox.take()) {
    left.push_back(std::move(call));
  }
  for (auto& call : left) {
    call.done(failed(Status::unavailable("database pool shutting down")));
  }
}

void AsyncPool::Loop::queue(Call call) {
  if (waiting.size() >= options.queueLimit) {
    call.done(failed(Status::unavailable("too many statements are waiting for a database connection")));
    return;
  }
  waiting.push_back(std::move(call));
}

void AsyncPool::Loop::pump() {
  while (!waiting.empty()) {
    Connection* target = nullptr;
    for (auto& connection : connections) {
      if (connection->state == Connection::State::kReady &&
          connection->inFlight.size() < options.pipelineDepth &&
          (target == nullptr || connection->inFlight.size() < target->inFlight.size())) {
        target = connection.get();
      }
    }
    if (target == nullptr) {
      break;
    }
    Call call = std::move(waiting.front());
    waiting.pop_front();
    send(*target, std::move(call));
  }
  if (waiting.empty()) {
    return;
  }
  // One connection opened per call that has to wait, each will take pipelineDepth.
  const auto now = Clock::now();
  size_t coming = 0;
  for (auto& connection : connections) {
    coming += connection->state == Connection::State::kConnecting ? options.pipelineDepth : 0;
  }
  for (auto& connection : connections) {
    if (coming >= waiting.size()) {
      break;
    }
    if (connection->state == Connection::State::kDown && connection->nextAttempt <= now) {
      startConnecting(*connection);
      coming += connection->state == Connection::State::kConnecting ? options.pipelineDepth : 0;
    }
  }
  failIfAllDown();
}

void AsyncPool::Loop::failIfAllDown() {
  if (waiting.empty() || std::any_of(connections.begin(), connections.end(),
                                     [](const auto& c) { return c->state != Connection::State::kDown; })) {
    return;
  }
  const auto now = Clock::now();
  if (failingOver(now)) {
    return;  // the server went away moments ago: a failover or a restart, so wait for the reconnect
  }
  auto next = std::min_element(connections.begin(), connections.end(),
                               [](const auto& a, const auto& b) { return a->nextAttempt < b->nextAttempt; });
  const auto in = std::chrono::duration_cast<milliseconds>((*next)->nextAttempt - now).count();
  failWaiting(lastError + " (next reconnect attempt in " + std::to_string(std::max<int64_t>(in, 0)) + " ms)");
}

void AsyncPool::Loop::failWaiting(const std::string& why) {
  auto calls = std::move(waiting);
  waiting.clear();
  for (auto& call : calls) {
    call.done(failed(Status::unavailable(why)));
  }
}

void AsyncPool::Loop::expire(Clock::time_point now) {
  while (!waiting.empty() && now - waiting.front().queuedAt >= options.queueWait) {
    Call call = std::move(waiting.front());
    waiting.pop_front();
    call.done(failed(Status::unavailable("no database connection became free in time")));
  }
  for (auto& connection : connections) {
    if (connection->state == Connection::State::kConnecting && now >= connection->connectDeadline) {
      connectFailed(*connection,
                    "timeout expired after " + std::to_string(options.pool.connectTimeout.count()) + " ms");
    } else if (connection->state == Connection::State::kReady && !connection->inFlight.empty() &&
               now - connection->inFlight.front().sentAt >= answerTimeout) {
      // Not retried: a server that does not answer would only make the caller wait twice.
      failInFlight(*connection, "database connection lost: no answer within " +
                                    std::to_string(answerTimeout.count()) + " ms");
      drop(*connection);
    }
  }
}

Wait AsyncPool::Loop::nextWait() const {
  const auto now = Clock::now();
  auto next = now + milliseconds(1000);
  if (!waiting.empty()) {
    next = std::min(next, waiting.front().queuedAt + options.queueWait);
    // Failing over, the calls wait for the next reconnect attempt, or for the end of the wait.
    if (failingOver(now)) {
      next = std::min(next, lostWorkingAt + options.failoverWait);
      for (const auto& connection : connections) {
        if (connection->state == Connection::State::kDown && connection->nextAttempt > now) {
          next = std::min(next, connection->nextAttempt);
        }
      }
    }
  }
  for (const auto& connection : connections) {
    if (connection->state == Connection::State::kConnecting) {
      next = std::min(next, connection->connectDeadline);
    } else if (connection->state == Connection::State::kReady && !connection->inFlight.empty()) {
      next = std::min(next, connection->inFlight.front().sentAt + answerTimeout);
    }
  }
  return Wait::atMost(std::chrono::ceil<milliseconds>(next - now));
}

void AsyncPool::Loop::updateGauges() {
  double idle = 0, busy = 0, down = 0;
  for (const auto& connection : connections) {
    if (connection->state != Connection::State::kReady) {
      ++down;
    } else if (connection->inFlight.empty()) {
      ++idle;
    } else {
      ++busy;
    }
  }
  gauges.add(idle - counted[0], busy - counted[1], down - counted[2]);
  counted[0] = idle;
  counted[1] = busy;
  counted[2] = down;
}

Status AsyncPool::Loop::watchSocket(Connection& connection, uint32_t events) {
  const int fd = PQsocket(connection.conn.get());
  Status watched = okStatus();
  if (fd != connection.fd) {
    unwatchSocket(connection);
    connection.fd = fd;
    if (fd >= 0) {
      watched = watch(fd, events, connection.tag);
    }
  } else if (events != connection.events) {
    watched = rewatch(fd, events, connection.tag);
  }
  connection.events = events;
  return watched;
}

void AsyncPool::Loop::unwatchSocket(Connection& connection) {
  if (connection.fd >= 0) {
    (void)unwatch(connection.fd);
  }
  connection.fd = -1;
  connection.events = 0;
}

void AsyncPool::Loop::startConnecting(Connection& connection) {
  ConnectParams params(url, options.pool);
  connection.conn.reset(PQconnectStartParams(params.keywords(), params.values(), 1));
  if (!connection.conn || PQstatus(connection.conn.get()) == CONNECTION_BAD) {
    connectFailed(connection, connectionError(connection.conn.get()));
    return;
  }
  PQsetnonblocking(connection.conn.get(), 1);
  connection.state = Connection::State::kConnecting;
  connection.connectDeadline = Clock::now() + options.pool.connectTimeout;
  watchOrFail(connection, EPOLLOUT);  // libpq: poll for writing first
}

void AsyncPool::Loop::continueConnecting(Connection& connection) {
  switch (PQconnectPoll(connection.conn.get())) {
    case PGRES_POLLING_READING:
      watchOrFail(connection, EPOLLIN);
      return;
    case PGRES_POLLING_WRITING:
      watchOrFail(connection, EPOLLOUT);
      return;
    case PGRES_POLLING_OK:
      if (PQenterPipelineMode(connection.conn.get()) != 1) {
        connectFailed(connection, connectionError(connection.conn.get()));
        return;
      }
      connection.state = Connection::State::kReady;
      connection.backoff = milliseconds(0);
      connection.prepared.assign(statements.size(), false);
      watchOrFail(connection, EPOLLIN);
      return;
    default:
      connectFailed(connection, connectionError(connection.conn.get()));
      return;
  }
}

void AsyncPool::Loop::watchOrFail(Connection& connection, uint32_t events) {
  if (Status watched = watchSocket(connection, events); !watched.ok()) {
    connectFailed(connection, watched.message());
  }
}

void AsyncPool::Loop::connectFailed(Connection& connection, const std::string& why) {
  unwatchSocket(connection);
  connection.conn.reset();
  connection.state = Connection::State::kDown;
  const auto now = Clock::now();
  connection.backoff = failingOver(now) ? kFailoverRetry
                                        : std::min(options.pool.maxBackoff,
                                                   std::max(milliseconds(100), connection.backoff * 2));
  connection.nextAttempt = now + connection.backoff;
  lastError = "database unavailable: " + why;
  failIfAllDown();
}

void AsyncPool::Loop::drop(Connection& connection) {
  unwatchSocket(connection);
  connection.conn.reset();
  connection.state = Connection::State::kDown;
  connection.nextAttempt = {};
}

void AsyncPool::Loop::failInFlight(Connection& connection, const std::string& why) {
  auto calls = std::move(connection.inFlight);
  connection.inFlight.clear();
  for (auto& call : calls) {
    call.done(failed(Status::unavailable(why)));
  }
}

void AsyncPool::Loop::lost(Connection& connection, const std::string& cause) {
  const std::string why = "database connection lost: " + cause;
  auto calls = std::move(connection.inFlight);
  connection.inFlight.clear();
  drop(connection);
  lastError = why;
  lostWorkingAt = Clock::now();
  for (auto it = calls.rbegin(); it != calls.rend(); ++it) {
    const bool mayRetry = it->statement != kPing && statements[it->statement].retry == Retry::kOnReconnect;
    if (mayRetry && !it->retried) {
      it->retried = true;
      it->answer.reset();
      waiting.push_front(std::move(*it));
    } else {
      it->done(failed(Status::unavailable(why)));
    }
  }
}

void AsyncPool::Loop::handle(Connection& connection, uint32_t events) {
  if (connection.state == Connection::State::kConnecting) {
    continueConnecting(connection);
    return;
  }
  if (connection.state != Connection::State::kReady) {
    return;  // an event for a socket dropped earlier in this batch
  }
  if ((events & EPOLLOUT) != 0) {
    flush(connection);
  }
  if (connection.state == Connection::State::kReady && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
    readAnswers(connection);
  }
}

void AsyncPool::Loop::send(Connection& connection, Call call) {
  PGconn* conn = connection.conn.get();
  bool sent = true;
  call.commandsLeft = 1;
  call.preparing = false;
  if (call.statement == kPing) {
    sent = PQsendQueryParams(conn, "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  } else {
    const Statement& statement = statements[call.statement];
    std::vector<const char*> values;
    values.reserve(call.params.size());
    for (const auto& param : call.params) {
      values.push_back(param ? param->c_str() : nullptr);
    }
    const int count = static_cast<int>(values.size());
    // Prepared on first use per connection, so that statements may name tables migrations create. The
    // prepare goes in the same pipeline segment: if it fails, the statement is not run.
    if (!statement.planEachCall && !connection.prepared[call.statement]) {
      sent = PQsendPrepare(conn, statement.name.c_str(), statement.sql.c_str(), 0, nullptr) == 1;
      connection.prepared[call.statement] = true;
      call.commandsLeft = 2;
      call.preparing = true;
    }
    sent = sent && (statement.planEachCall ? PQsendQueryParams(conn, statement.sql.c_str(), count, nullptr,
                                                               values.data(), nullptr, nullptr, 0)
                                           : PQsendQueryPrepared(conn, statement.name.c_str(), count,
                                                                 values.data(), nullptr, nullptr, 0)) == 1;
  }
  // One sync point per call: each is its own transaction, and one's failure aborts no other.
  sent = sent && PQpipelineSync(conn) == 1;
  call.sentAt = Clock::now();
  connection.inFlight.push_back(std::move(call));
  if (!sent) {
    lost(connection);
    return;
  }
  // The statements of one turn of the loop go to the server in one write (flushAll): it wakes once
  // for all of them.
  if (!connection.unflushed) {
    connection.unflushed = true;
    unflushed.push_back(&connection);
  }
}

void AsyncPool::Loop::flushAll() {
  for (Connection* connection : unflushed) {
    connection->unflushed = false;
    if (connection->state == Connection::State::kReady) {
      flush(*connection);
    }
  }
  unflushed.clear();
}

void AsyncPool::Loop::flush(Connection& connection) {
  const int left = PQflush(connection.conn.get());
  if (left < 0) {
    lost(connection);
    return;
  }
  if (Status watched = watchSocket(connection, left == 0 ? EPOLLIN : EPOLLIN | EPOLLOUT); !watched.ok()) {
    lost(connection, watched.message());
  }
}

void AsyncPool::Loop::readAnswers(Connection& connection) {
  PGconn* conn = connection.conn.get();
  if (PQconsumeInput(conn) == 0) {
    lost(connection);
    return;
  }
  while (!connection.inFlight.empty() && PQisBusy(conn) == 0) {
    ResultPtr result(PQgetResult(conn));
    Call& call = connection.inFlight.front();
    if (!result) {
      // The end of one command's answers.
      if (call.commandsLeft == 0) {
        break;
      }
      --call.commandsLeft;
      call.preparing = false;
      continue;
    }
    if (PQresultStatus(result.get()) == PGRES_PIPELINE_SYNC) {
      Call done = std::move(call);
      connection.inFlight.pop_front();
      done.done(classify(conn, std::move(done.answer)));
      continue;
    }
    if (call.preparing && !succeeded(result.get()) && call.statement != kPing) {
      connection.prepared[call.statement] = false;
    }
    if (!call.answer || succeeded(call.answer.get())) {
      call.answer = std::move(result);
    }
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    lost(connection);
  }
}

AsyncPool::AsyncPool(std::string url, std::vector<Statement> statements, AsyncPoolOptions options,
                     ServiceMetrics* metrics, const std::string& service)
    : gauges_(std::make_unique<ConnectionGauges>(metrics, service)) {
  const size_t count = std::max<size_t>(options.loops, 1);
  const size_t size = std::max(options.pool.size, count);
  for (size_t i = 0; i < count; ++i) {
    // The connections split as evenly as they go: 8 over 3 loops are 3, 3 and 2.
    const size_t share = size / count + (i < size % count ? 1 : 0);
    loops_.add(std::make_unique<Loop>(url, statements, options, share, *gauges_));
    loops_.at(i).updateGauges();
  }
  loops_.start(options.hosted);
}

AsyncPool::~AsyncPool() = default;

size_t AsyncPool::loops() const {
  return loops_.size();
}

HostedLoop& AsyncPool::loop(size_t index) {
  return loops_.at(index);
}

void AsyncPool::run(const std::string& statement, Params params, Done done) {
  const auto& statements = loops_.at(0).statements;  // every loop has the pool's statements
  auto known = std::find_if(statements.begin(), statements.end(),
                            [&](const Statement& s) { return s.name == statement; });
  if (known == statements.end()) {
    done(failed(Status::internal("unknown statement " + statement)));
    return;
  }
  Call call;
  call.statement = static_cast<size_t>(known - statements.begin());
  call.params = std::move(params);
  call.done = std::move(done);
  call.queuedAt = Clock::now();
  loops_.put(std::move(call));
}

Result AsyncPool::runAndWait(const std::string& statement, Params params) {
  // Ends within the pool's own deadlines: queueWait, then the connect or the answer timeout.
  auto answer = std::make_shared<std::promise<Result>>();
  auto future = answer->get_future();
  run(statement, std::move(params), [answer](Result result) { answer->set_value(std::move(result)); });
  return future.get();
}

Status AsyncPool::ping(std::chrono::milliseconds wait) {
  auto answer = std::make_shared<std::promise<Status>>();
  auto future = answer->get_future();
  Call call;
  call.done = [answer](Result result) { answer->set_value(result.status().withContext("database")); };
  call.queuedAt = Clock::now();
  loops_.put(std::move(call));
  if (future.wait_for(wait) != std::future_status::ready) {
    return Status::unavailable("database did not answer within " + std::to_string(wait.count()) + " ms");
  }
  return future.get();
}

}  // namespace mp::pg
