#include "gateway/billing_publisher.h"

#include <map>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/retry.h"
#include "common/amqp_publisher.h"
#include "orders/billing_topology.h"

namespace mp::gateway {

BillingPublisher::BillingPublisher(BillingPublisherSettings settings, ServiceMetrics& metrics)
    : settings_(std::move(settings)) {
  auto& family = prometheus::BuildCounter()
                     .Name("gateway_billing_published_total")
                     .Help("Orders the gateway published to the billing queue, by outcome.")
                     .Register(metrics.registry());
  confirmed_ = &family.Add({{"outcome", "confirmed"}});
  failed_ = &family.Add({{"outcome", "failed"}});
}

BillingPublisher::~BillingPublisher() {
  stop();
}

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t nowTicks() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// How long stop() lets the publishing thread end by itself (a polite AMQP close takes milliseconds)
// before the watchdog shuts its socket.
constexpr auto kStopGrace = std::chrono::milliseconds(500);

}  // namespace

void BillingPublisher::start() {
  thread_ = std::thread([this] { run(); });
  watchdog_ = std::thread([this] { watch(); });
}

void BillingPublisher::stop() {
  int64_t unset = 0;
  stopRequestedAt_.compare_exchange_strong(unset, nowTicks());
  stopping_ = true;
  wake_.notify_all();
  watchWake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  {
    std::lock_guard<std::mutex> lock(watchMutex_);
    watchDone_ = true;
  }
  watchWake_.notify_all();
  if (watchdog_.joinable()) {
    watchdog_.join();
  }
  failQueued("the gateway is shutting down");
}

void BillingPublisher::watchConnection(const amqp::Connection* connection) {
  std::lock_guard<std::mutex> lock(watchMutex_);
  watched_ = connection;
}

void BillingPublisher::watch() {
  const auto sendLimit =
      std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.confirmTimeout).count();
  const auto stopLimit = std::chrono::duration_cast<std::chrono::nanoseconds>(kStopGrace).count();
  std::unique_lock<std::mutex> lock(watchMutex_);
  while (!watchDone_) {
    watchWake_.wait_for(lock, std::chrono::milliseconds(50));
    const int64_t now = nowTicks();
    const int64_t publishing = publishingSince_.load();
    const int64_t stopAt = stopRequestedAt_.load();
    const bool stuck = publishing != 0 && now - publishing > sendLimit;
    const bool stopIgnored = stopAt != 0 && now - stopAt > stopLimit;
    if (watched_ && (stuck || stopIgnored)) {
      // The publishing thread's call on this socket fails at once; it then drops the connection.
      log::warn(
          "broker_connection_interrupted",
          {{"reason", stuck ? "a publish could not be written within the confirm timeout" : "stopping"}});
      watched_->interrupt();
      watched_ = nullptr;
    }
  }
}

Status BillingPublisher::publish(std::string body, std::string messageId) {
  auto pending = std::make_shared<Pending>();
  pending->body = std::move(body);
  pending->messageId = std::move(messageId);
  auto result = pending->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      return Status::unavailable("the gateway is shutting down");
    }
    // Fail fast rather than wait: the client gets 503 at once and can retry.
    if (!connected_) {
      failed_->Increment();
      return Status::unavailable("RabbitMQ is not reachable");
    }
    if (blocked_) {
      failed_->Increment();
      return Status::unavailable(
          "RabbitMQ refuses new messages for now (resource alarm: connection blocked)");
    }
    if (queue_.size() >= settings_.maxQueued) {
      failed_->Increment();
      return Status::unavailable("too many orders are waiting for RabbitMQ");
    }
    queue_.push_back(pending);
  }
  wake_.notify_one();
  if (result.wait_for(settings_.confirmTimeout) != std::future_status::ready) {
    // Not yet published: taken out, so nothing is kept to be sent after its client got its answer.
    // Published: it may still be confirmed later; the client is told the outcome is unknown (503).
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == pending) {
        queue_.erase(it);
        break;
      }
    }
    failed_->Increment();
    return Status::unavailable("RabbitMQ did not confirm the order in time");
  }
  Status status = result.get();
  (status.ok() ? confirmed_ : failed_)->Increment();
  return status;
}

void BillingPublisher::failQueued(const std::string& reason) {
  std::deque<std::shared_ptr<Pending>> failed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failed.swap(queue_);
  }
  for (auto& pending : failed) {
    pending->done.set_value(Status::unavailable(reason));
  }
}

std::deque<std::shared_ptr<BillingPublisher::Pending>> BillingPublisher::takeBatch(
    std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, wait, [this] { return stopping_ || !queue_.empty(); });
  std::deque<std::shared_ptr<Pending>> batch;
  while (!queue_.empty() && batch.size() < settings_.maxBatch) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

amqp::Status BillingPublisher::connect(std::unique_ptr<amqp::Connection>* connection,
                                       std::unique_ptr<amqp::Publisher>* publisher) {
  amqp::Status status = amqp::Connection::open(settings_.connection, connection);
  if (status.ok()) {
    watchConnection(connection->get());
    status = amqp::declareBillingTopology(**connection, amqp::BillingTopology::forQueue(settings_.queue));
  }
  if (status.ok()) {
    *publisher = std::make_unique<amqp::Publisher>(**connection);
    status = (*publisher)->enableConfirms();
  }
  if (!status.ok()) {
    publisher->reset();
    watchConnection(nullptr);
    connection->reset();
  }
  return status;
}

// Publishes the orders that arrive on one connection until it is lost, the broker stops confirming, or the
// publisher stops; then answers 503 to every order still waiting for its confirm. Returns why it ended.
amqp::Status BillingPublisher::publishUntilLost(amqp::Connection& connection, amqp::Publisher& publisher) {
  amqp::Status status = okStatus();
  // Pipelined: an order goes out as soon as it arrives, beside those still waiting for their confirm,
  // and each is answered when its own delivery tag is settled (docs/performance.md, why not in batches).
  std::map<uint64_t, std::shared_ptr<Pending>> inFlight;
  std::vector<std::pair<uint64_t, bool>> settled;
  auto lastProgress = SteadyClock::now();
  // Answers the orders whose delivery tags were settled.
  auto answerSettled = [&] {
    for (const auto& [tag, taken] : settled) {
      auto found = inFlight.find(tag);
      if (found == inFlight.end()) {
        continue;
      }
      found->second->done.set_value(
          taken ? okStatus()
                : Status::unavailable("RabbitMQ did not confirm the order (nacked or unroutable)"));
      inFlight.erase(found);
    }
    if (!settled.empty()) {
      lastProgress = SteadyClock::now();
    }
    settled.clear();
  };
  auto noteBlocked = [&] {
    const bool blocked = publisher.blocked();
    if (blocked != blocked_.exchange(blocked)) {
      log::warn(blocked ? "broker_blocked" : "broker_unblocked", {{"queue", settings_.queue}});
      lastProgress = SteadyClock::now();  // the confirm watchdog counts from the unblock
    }
  };
  while (!stopping_) {
    auto batch = takeBatch(inFlight.empty() ? std::chrono::milliseconds(500) : std::chrono::milliseconds(0));
    // What already arrived first: a connection.blocked read now keeps this batch off a blocked socket.
    if (status.ok()) {
      status = publisher.collectConfirms(std::chrono::microseconds(0), &settled);
      answerSettled();
      noteBlocked();
    }
    for (auto& pending : batch) {
      uint64_t tag = 0;
      if (status.ok() && blocked_) {
        pending->done.set_value(Status::unavailable(
            "RabbitMQ refuses new messages for now (resource alarm: connection blocked)"));
        continue;
      }
      if (status.ok()) {
        publishingSince_ = nowTicks();
        status = publisher.publishAsync("", settings_.queue, {pending->body, pending->messageId}, &tag);
        publishingSince_ = 0;
      }
      if (status.ok()) {
        inFlight.emplace(tag, std::move(pending));
      } else {
        pending->done.set_value(Status::unavailable("RabbitMQ did not take the order: " + status.message()));
      }
    }
    if (status.ok() && inFlight.empty()) {
      status = publisher.serviceIdle(std::chrono::milliseconds(0));
      noteBlocked();
      lastProgress = SteadyClock::now();
    } else if (status.ok()) {
      // A short wait (well under a confirm's round trip, about 1.5 ms on a quiet machine): orders that
      // arrive meanwhile are published on the next turn.
      status = publisher.collectConfirms(std::chrono::microseconds(200), &settled);
      answerSettled();
      noteBlocked();
      // While blocked the broker reads nothing: the orders on the wire wait for the unblock (their
      // clients got 503 after confirmTimeout) and the connection is kept.
      if (!blocked_ && SteadyClock::now() - lastProgress > settings_.confirmTimeout) {
        // A broker that stops confirming is treated as gone: reconnect, without a polite close that
        // would wait for its answer.
        status = connection.lose("no publisher confirm within " +
                                 std::to_string(settings_.confirmTimeout.count()) + " ms");
        break;
      }
    }
    if (!status.ok() && amqp::connectionLost(status)) {
      break;
    }
    if (!status.ok()) {
      status = okStatus();  // that order was answered; the connection still serves the next
    }
  }
  // Whatever is still unconfirmed has an unknown outcome: the client is told 503 and may retry (the
  // message id makes a duplicate harmless).
  for (auto& [tag, pending] : inFlight) {
    pending->done.set_value(Status::unavailable(stopping_ ? std::string("the gateway is shutting down")
                                                          : "RabbitMQ connection lost: " + status.message()));
  }
  return status;
}

void BillingPublisher::run() {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
  while (!stopping_) {
    std::unique_ptr<amqp::Connection> connection;
    std::unique_ptr<amqp::Publisher> publisher;
    amqp::Status status = okStatus();
    const bool connected = retryUntilStopped(stopping_, backoff, [&](std::chrono::milliseconds retryIn) {
      status = connect(&connection, &publisher);
      if (status.ok()) {
        return true;
      }
      log::warn("broker_unavailable", {{"reason", status.message()}, {"retry_in_ms", retryIn.count()}});
      // Orders that arrived while it was connecting; publish() refuses new ones until it is connected.
      failQueued("RabbitMQ is not reachable: " + status.message());
      return false;
    });
    if (!connected) {
      break;
    }
    connected_ = true;
    log::info("broker_connected", {{"queue", settings_.queue}});
    status = publishUntilLost(*connection, *publisher);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      connected_ = false;
    }
    if (blocked_) {
      // A blocked broker reads nothing, so a polite close would only wait for its RPC timeout.
      connection->lose("the broker blocked the connection");
    }
    blocked_ = false;
    publisher.reset();
    watchConnection(nullptr);
    connection.reset();
    if (!stopping_) {
      log::warn("broker_connection_lost", {{"reason", status.message()}});
      failQueued("RabbitMQ connection lost: " + status.message());
    }
  }
  connected_ = false;
}

}  // namespace mp::gateway
