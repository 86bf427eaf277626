#include "gateway/billing_publisher.h"

#include <sys/epoll.h>

#include <map>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/retry.h"
#include "common/amqp_publisher.h"
#include "orders/billing_topology.h"

namespace mp::gateway {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t nowTicks() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// How long stop() lets a loop close its connection politely (milliseconds with a healthy broker) before
// the watchdog shuts its socket.
constexpr auto kStopGrace = std::chrono::milliseconds(500);
// How often a loop whose socket said nothing reads it anyway: rabbitmq-c sends its heartbeats, and notices
// the broker's missing ones, only inside a read.
constexpr auto kQuietRead = std::chrono::seconds(1);
// The watchdog's period: well under the limits it enforces (the confirm timeout, the stop grace), and rare
// enough that an idle gateway is not kept awake by it.
constexpr auto kWatchPeriod = std::chrono::milliseconds(250);
constexpr EventLoop::Tag kSocketTag = 1;

// One open connection in confirm mode with its publisher (which refers to it).
struct Link {
  std::unique_ptr<amqp::Connection> connection;
  std::unique_ptr<amqp::Publisher> publisher;
};

// Opens a connection, declares the topology and enables confirms.
amqp::Status openLink(const BillingPublisherSettings& settings, Link* link) {
  amqp::Status status = amqp::Connection::open(settings.connection, &link->connection);
  if (status.ok()) {
    status = amqp::declareBillingTopology(*link->connection, amqp::BillingTopology::forQueue(settings.queue));
  }
  if (status.ok()) {
    link->publisher = std::make_unique<amqp::Publisher>(*link->connection);
    status = link->publisher->enableConfirms();
  }
  if (!status.ok()) {
    link->publisher.reset();
    link->connection.reset();
  }
  return status;
}

// Opens a loop's connections on a thread of its own, since a connect blocks (up to the connection
// timeout), retrying with backoff until one opens; `handOver` gives it to the loop. Thread-safe.
class Connector {
 public:
  using HandOver = std::function<void(Link)>;
  Connector(const BillingPublisherSettings& settings, const std::atomic<bool>& stopping, HandOver handOver)
      : settings_(settings), stopping_(stopping), handOver_(std::move(handOver)) {}
  ~Connector() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // The loop has no connection: open one.
  void want() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      wanted_ = true;
    }
    wake_.notify_one();
  }
  // After `stopping` was set.
  void stop() {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_one();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  void run() {
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
    while (waitUntilWanted()) {
      Link link;
      const bool opened = retryUntilStopped(stopping_, backoff, [&](std::chrono::milliseconds retryIn) {
        amqp::Status status = openLink(settings_, &link);
        if (!status.ok()) {
          log::warn("broker_unavailable", {{"reason", status.message()}, {"retry_in_ms", retryIn.count()}});
        }
        return status.ok();
      });
      if (opened) {
        handOver_(std::move(link));
      }
    }
  }
  // False once stopping.
  bool waitUntilWanted() {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [this] { return wanted_ || stopping_.load(); });
    wanted_ = false;
    return !stopping_.load();
  }

  const BillingPublisherSettings& settings_;
  const std::atomic<bool>& stopping_;
  HandOver handOver_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool wanted_ = true;  // guarded by mutex_; the first connection is wanted at start
  std::thread thread_;
};

}  // namespace

struct BillingPublisher::Watched {
  // Since when (steady ns) the loop is writing a publish, 0: it is not.
  std::atomic<int64_t> publishingSince{0};
  std::mutex mutex;
  const amqp::Connection* connection = nullptr;  // guarded by mutex: the loop's, which may be interrupted

  void set(const amqp::Connection* current) {
    std::lock_guard<std::mutex> lock(mutex);
    connection = current;
  }
};

// One connection's loop: takes orders and connections handed over, publishes, reads confirms when the
// socket is readable, answers each order on this thread.
struct BillingPublisher::Loop : EventLoop {
  struct Order {
    std::string body;
    std::string messageId;
    Done done;
  };
  struct InFlight {
    Done done;  // empty once answered (its deadline passed; its confirm may still come)
    SteadyClock::time_point deadline;
  };

  BillingPublisher& owner;
  size_t index;
  Inbox<Order> inbox{*this};
  Inbox<Link> links{*this};
  Connector connector;
  std::atomic<bool> connected{false};  // what publish() reads to pick a loop
  Watched& watched;

  // Loop thread only from here on.
  Link link;
  int socket = -1;
  bool blocked = false;
  bool ended = false;
  std::map<uint64_t, InFlight> inFlight;  // by delivery tag, so by deadline too
  uint64_t answeredThrough = 0;           // in-flight tags up to this one are answered already
  SteadyClock::time_point lastProgress{};
  SteadyClock::time_point lastRead{};
  std::vector<std::pair<uint64_t, bool>> settled;

  Loop(BillingPublisher& publisher, size_t i, Watched& w)
      : owner(publisher),
        index(i),
        connector(publisher.settings_, publisher.stopping_,
                  [this](Link opened) { links.put(std::move(opened)); }),
        watched(w) {}

  void onReady(Tag tag, uint32_t events) override;
  Wait onTurn() override;
  void onShutdown() override;

  void adopt(Link opened);
  void send(Order order);
  // Reads what the broker sent: confirms, returns, connection.blocked; drops the connection when it broke.
  void read();
  void answerSettled();
  void noteBlocked();
  // Answers orders past their deadline; drops a connection that confirmed nothing for confirmTimeout.
  void expire(SteadyClock::time_point now);
  Wait nextWait(SteadyClock::time_point now) const;
  // Ends the connection: every order waiting on it is answered 503 `why`; a new one is asked for.
  void drop(const std::string& why);
  // Closes the connection: politely at the end when nothing waits on it, else at once.
  void close(bool unanswered);
  void finish(Done done, Status status);
};

void BillingPublisher::Loop::finish(Done done, Status status) {
  (status.ok() ? owner.confirmed_ : owner.failed_)->Increment();
  done(std::move(status));
}

void BillingPublisher::Loop::adopt(Link opened) {
  if (ended || link.connection) {
    opened.connection->lose("not needed");  // closed without a polite close that could wait
    return;
  }
  link = std::move(opened);
  socket = amqp_get_sockfd(link.connection->state());
  if (Status watching = watch(socket, EPOLLIN, kSocketTag); !watching.ok()) {
    drop(watching.message());
    return;
  }
  watched.set(link.connection.get());
  blocked = false;
  lastRead = SteadyClock::now();
  connected = true;
  log::info("broker_connected", {{"queue", owner.settings_.queue}, {"loop", index}});
}

void BillingPublisher::Loop::send(Order order) {
  if (!link.connection) {
    finish(std::move(order.done),
           Status::unavailable(ended ? "the gateway is shutting down" : "RabbitMQ is not reachable"));
    return;
  }
  if (blocked) {
    finish(std::move(order.done),
           Status::unavailable("RabbitMQ refuses new messages for now (resource alarm: connection blocked)"));
    return;
  }
  if (inFlight.size() >= owner.settings_.maxInFlight) {
    finish(std::move(order.done), Status::unavailable("too many orders are waiting for RabbitMQ"));
    return;
  }
  const auto now = SteadyClock::now();
  if (inFlight.empty()) {
    lastProgress = now;  // the confirm watchdog counts from the first order waiting
  }
  uint64_t tag = 0;
  watched.publishingSince = nowTicks();
  amqp::Status status =
      link.publisher->publishAsync("", owner.settings_.queue, {order.body, order.messageId}, &tag);
  watched.publishingSince = 0;
  if (!status.ok()) {
    finish(std::move(order.done),
           Status::unavailable("RabbitMQ did not take the order: " + status.message()));
    if (amqp::connectionLost(status)) {
      drop(status.message());
    }
    return;
  }
  inFlight.emplace(tag, InFlight{std::move(order.done), now + owner.settings_.confirmTimeout});
}

void BillingPublisher::Loop::read() {
  amqp::Status status = link.publisher->collectConfirms(std::chrono::microseconds(0), &settled);
  lastRead = SteadyClock::now();
  answerSettled();
  noteBlocked();
  if (!status.ok()) {
    drop(status.message());
  }
}

void BillingPublisher::Loop::answerSettled() {
  for (const auto& [tag, taken] : settled) {
    auto found = inFlight.find(tag);
    if (found == inFlight.end()) {
      continue;
    }
    if (found->second.done) {
      finish(std::move(found->second.done),
             taken ? okStatus()
                   : Status::unavailable("RabbitMQ did not confirm the order (nacked or unroutable)"));
    }
    inFlight.erase(found);
  }
  if (!settled.empty()) {
    lastProgress = SteadyClock::now();
  }
  settled.clear();
}

void BillingPublisher::Loop::noteBlocked() {
  if (!link.publisher || link.publisher->blocked() == blocked) {
    return;
  }
  blocked = link.publisher->blocked();
  log::warn(blocked ? "broker_blocked" : "broker_unblocked", {{"queue", owner.settings_.queue}});
  lastProgress = SteadyClock::now();  // the confirm watchdog counts from the unblock
}

void BillingPublisher::Loop::expire(SteadyClock::time_point now) {
  for (auto it = inFlight.upper_bound(answeredThrough); it != inFlight.end() && it->second.deadline <= now;
       ++it) {
    // Sent: it may still be confirmed later; the client is told the outcome is unknown (503).
    if (it->second.done) {
      finish(std::move(it->second.done), Status::unavailable("RabbitMQ did not confirm the order in time"));
      it->second.done = nullptr;
    }
    answeredThrough = it->first;
  }
  // While blocked the broker reads nothing: the orders on the wire wait for the unblock, and the
  // connection is kept. Otherwise a broker that stops confirming is treated as gone: reconnect, without a
  // polite close that would wait for its answer.
  const auto limit = owner.settings_.confirmTimeout;
  if (link.connection && !blocked && !inFlight.empty() && now - lastProgress > limit) {
    drop(link.connection->lose("no publisher confirm within " + std::to_string(limit.count()) + " ms")
             .message());
  }
}

void BillingPublisher::Loop::drop(const std::string& why) {
  // Whatever is still unconfirmed has an unknown outcome: the client is told 503 and may retry (the
  // message id makes a duplicate harmless).
  const std::string reason =
      ended ? std::string("the gateway is shutting down") : "RabbitMQ connection lost: " + why;
  const bool hadInFlight = !inFlight.empty();
  for (auto& [tag, pending] : inFlight) {
    if (pending.done) {
      finish(std::move(pending.done), Status::unavailable(reason));
    }
  }
  inFlight.clear();
  answeredThrough = 0;
  connected = false;
  if (socket >= 0) {
    (void)unwatch(socket);
    socket = -1;
  }
  if (link.connection) {
    close(blocked || hadInFlight);
  }
  blocked = false;
  if (!ended) {
    log::warn("broker_connection_lost", {{"reason", why}, {"loop", index}});
    connector.want();
  }
}

void BillingPublisher::Loop::close(bool unanswered) {
  if (ended && !unanswered) {
    // Polite, so that the broker logs no "client unexpectedly closed"; the watchdog still watches it.
    link.connection->close();
  } else {
    // During service this is the reactor's thread; and a blocked broker reads nothing, one that left
    // orders unconfirmed may answer nothing: a polite close would wait for its RPC timeout.
    link.connection->lose("dropped");
  }
  watched.set(nullptr);
  link.publisher.reset();
  link.connection.reset();
}

void BillingPublisher::Loop::onReady(Tag, uint32_t) {
  if (link.connection) {
    read();
  }
}

Wait BillingPublisher::Loop::onTurn() {
  for (Link& opened : links.take()) {
    adopt(std::move(opened));
  }
  for (Order& order : inbox.take()) {
    send(std::move(order));
  }
  const auto now = SteadyClock::now();
  if (link.connection && now - lastRead >= kQuietRead) {
    read();
  }
  expire(now);
  return nextWait(now);
}

// The nearest of what a turn checks: the quiet read, the first unanswered order's deadline, the confirm
// timeout of the connection. An idle loop without a connection has none: its host need not turn it.
Wait BillingPublisher::Loop::nextWait(SteadyClock::time_point now) const {
  auto next = SteadyClock::time_point::max();
  if (link.connection) {
    next = lastRead + kQuietRead;
    if (!blocked && !inFlight.empty()) {
      next = std::min(next, lastProgress + owner.settings_.confirmTimeout);
    }
  }
  for (auto it = inFlight.upper_bound(answeredThrough); it != inFlight.end(); ++it) {
    if (it->second.done) {
      next = std::min(next, it->second.deadline);
      break;
    }
  }
  if (next == SteadyClock::time_point::max()) {
    return Wait::forever();
  }
  return Wait::atMost(std::chrono::ceil<std::chrono::milliseconds>(next - now) +
                      std::chrono::milliseconds(1));
}

void BillingPublisher::Loop::onShutdown() {
  if (ended) {
    return;
  }
  ended = true;
  connected = false;
  for (Order& order : inbox.take()) {
    finish(std::move(order.done), Status::unavailable("the gateway is shutting down"));
  }
  for (Link& opened : links.take()) {
    opened.connection->lose("the gateway is shutting down");
  }
  drop("the gateway is shutting down");
}

BillingPublisher::BillingPublisher(BillingPublisherSettings settings, ServiceMetrics& metrics)
    : settings_(std::move(settings)), loops_(std::make_unique<LoopGroup<Loop>>()) {
  auto& family = prometheus::BuildCounter()
                     .Name("gateway_billing_published_total")
                     .Help("Orders the gateway published to the billing queue, by outcome.")
                     .Register(metrics.registry());
  confirmed_ = &family.Add({{"outcome", "confirmed"}});
  failed_ = &family.Add({{"outcome", "failed"}});
  for (size_t i = 0; i < std::max<size_t>(settings_.loops, 1); ++i) {
    watched_.push_back(std::make_unique<Watched>());
    loops_->add(std::make_unique<Loop>(*this, i, *watched_.back()));
  }
}

BillingPublisher::~BillingPublisher() {
  stop();
}

HostedLoop& BillingPublisher::loop(size_t index) {
  return loops_->at(index);
}

void BillingPublisher::start() {
  loops_->start(settings_.hosted);
  for (size_t i = 0; i < loops_->size(); ++i) {
    loops_->at(i).connector.start();
  }
  watchdog_ = std::thread([this] { watch(); });
}

void BillingPublisher::stop() {
  if (!loops_) {
    return;
  }
  int64_t unset = 0;
  stopRequestedAt_.compare_exchange_strong(unset, nowTicks());
  stopping_ = true;
  for (size_t i = 0; i < loops_->size(); ++i) {
    loops_->at(i).connector.stop();
  }
  // Stops the loops' threads, or ends the hosted loops on this thread, while the watchdog watches.
  loops_.reset();
  {
    std::lock_guard<std::mutex> lock(watchMutex_);
    watchDone_ = true;
  }
  watchWake_.notify_all();
  if (watchdog_.joinable()) {
    watchdog_.join();
  }
}

void BillingPublisher::publish(std::string body, std::string messageId, Done done) {
  Loop* target = &loops_->pick();
  for (size_t i = 0; !target->connected.load() && i < loops_->size(); ++i) {
    if (loops_->at(i).connected.load()) {
      target = &loops_->at(i);  // its own is reconnecting: another connection serves meanwhile
    }
  }
  target->inbox.put(Loop::Order{std::move(body), std::move(messageId), std::move(done)});
}

void BillingPublisher::watch() {
  const auto sendLimit =
      std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.confirmTimeout).count();
  const auto stopLimit = std::chrono::duration_cast<std::chrono::nanoseconds>(kStopGrace).count();
  std::unique_lock<std::mutex> lock(watchMutex_);
  while (!watchDone_) {
    watchWake_.wait_for(lock, kWatchPeriod);
    const int64_t now = nowTicks();
    const int64_t stopAt = stopRequestedAt_.load();
    const bool stopIgnored = stopAt != 0 && now - stopAt > stopLimit;
    for (auto& loop : watched_) {
      const int64_t publishing = loop->publishingSince.load();
      const bool stuck = publishing != 0 && now - publishing > sendLimit;
      std::lock_guard<std::mutex> watching(loop->mutex);
      if (loop->connection && (stuck || stopIgnored)) {
        // The loop's call on this socket fails at once; it then drops the connection.
        log::warn(
            "broker_connection_interrupted",
            {{"reason", stuck ? "a publish could not be written within the confirm timeout" : "stopping"}});
        loop->connection->interrupt();
        loop->connection = nullptr;
      }
    }
  }
}

}  // namespace mp::gateway
