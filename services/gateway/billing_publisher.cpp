#include "gateway/billing_publisher.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>
#include <vector>

#include "common/amqp_publisher.h"
#include "common/billing_topology.h"
#include "common/log.h"

namespace mp::gateway {

std::string newMessageId() {
  // Every id's bits come from the kernel at the draw (getrandom never blocks once the pool is initialised,
  // which it is long before a service starts): no generator state that threads, replicas or a forked
  // process could share, so ids collide only by chance, at 122 random bits.
  unsigned char bytes[16];
  std::size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t got = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (got > 0) {
      filled += static_cast<std::size_t>(got);
    } else if (got < 0 && errno != EINTR) {
      // Only on a kernel without getrandom (before Linux 3.17); an id must never be guessable or reused.
      std::perror("getrandom");
      std::abort();
    }
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < sizeof(bytes); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      text += '-';
    }
    text += kHex[bytes[i] >> 4];
    text += kHex[bytes[i] & 0x0f];
  }
  return text;
}

bool orderMessageId(const std::optional<std::string>& idempotencyKey, std::string* messageId) {
  if (!idempotencyKey) {
    *messageId = newMessageId();
    return true;
  }
  // An AMQP short string holds 255 bytes; 200 leaves room for the prefix.
  if (idempotencyKey->empty() || idempotencyKey->size() > 200) {
    return false;
  }
  for (char c : *idempotencyKey) {
    if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  *messageId = "key:" + *idempotencyKey;
  return true;
}

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

BillingPublisher::Outcome BillingPublisher::publish(std::string body, std::string messageId,
                                                    std::string* detail) {
  auto pending = std::make_shared<Pending>();
  pending->body = std::move(body);
  pending->messageId = std::move(messageId);
  auto result = pending->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      *detail = "the gateway is shutting down";
      return Outcome::kUnavailable;
    }
    // Fail fast rather than wait: the client gets 503 at once and can retry.
    if (!connected_) {
      *detail = "RabbitMQ is not reachable";
      failed_->Increment();
      return Outcome::kUnavailable;
    }
    if (blocked_) {
      *detail = "RabbitMQ refuses new messages for now (resource alarm: connection blocked)";
      failed_->Increment();
      return Outcome::kUnavailable;
    }
    if (queue_.size() >= settings_.maxQueued) {
      *detail = "too many orders are waiting for RabbitMQ";
      failed_->Increment();
      return Outcome::kUnavailable;
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
    *detail = "RabbitMQ did not confirm the order in time";
    failed_->Increment();
    return Outcome::kUnavailable;
  }
  auto [outcome, reason] = result.get();
  *detail = reason;
  (outcome == Outcome::kConfirmed ? confirmed_ : failed_)->Increment();
  return outcome;
}

void BillingPublisher::failQueued(const std::string& reason) {
  std::deque<std::shared_ptr<Pending>> failed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failed.swap(queue_);
  }
  for (auto& pending : failed) {
    pending->done.set_value({Outcome::kUnavailable, reason});
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

void BillingPublisher::waitBackoff(std::chrono::milliseconds delay, const std::string& reason) {
  failQueued(reason);
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

void BillingPublisher::run() {
  auto topology = amqp::BillingTopology::forQueue(settings_.queue);
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    std::unique_ptr<amqp::Connection> connection;
    amqp::Status status = amqp::Connection::open(settings_.connection, &connection);
    if (status.isOk()) {
      watchConnection(connection.get());
      status = amqp::declareBillingTopology(*connection, topology);
    }
    std::unique_ptr<amqp::Publisher> publisher;
    if (status.isOk()) {
      publisher = std::make_unique<amqp::Publisher>(*connection);
      status = publisher->enableConfirms();
    }
    if (!status.isOk()) {
      watchConnection(nullptr);
      connection.reset();
      log::warn("broker_unavailable", {{"reason", status.message()}, {"retry_in_ms", backoff.count()}});
      waitBackoff(backoff, "RabbitMQ is not reachable: " + status.message());
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    connected_ = true;
    log::info("broker_connected", {{"queue", settings_.queue}});
    // Pipelined: an order goes out as soon as it arrives, beside those still waiting for their confirm,
    // and each is answered when its own delivery tag is settled. (Publishing in batches that each waited
    // for all their confirms kept about half of the concurrent orders off the wire: docs/performance.md.)
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
            taken ? std::make_pair(Outcome::kConfirmed, std::string())
                  : std::make_pair(Outcome::kUnavailable, std::string("RabbitMQ did not confirm the "
                                                                      "order (nacked or unroutable)")));
        inFlight.erase(found);
      }
      if (!settled.empty()) {
        lastProgress = SteadyClock::now();
      }
      settled.clear();
    };
    auto noteBlocked = [&] {
      const bool blocked = publisher->blocked();
      if (blocked != blocked_.exchange(blocked)) {
        log::warn(blocked ? "broker_blocked" : "broker_unblocked", {{"queue", settings_.queue}});
        lastProgress = SteadyClock::now();  // the confirm watchdog counts from the unblock
      }
    };
    while (!stopping_) {
      auto batch =
          takeBatch(inFlight.empty() ? std::chrono::milliseconds(500) : std::chrono::milliseconds(0));
      // What already arrived first: a connection.blocked read now keeps this batch off a blocked socket.
      if (status.isOk()) {
        status = publisher->collectConfirms(std::chrono::microseconds(0), &settled);
        answerSettled();
        noteBlocked();
      }
      for (auto& pending : batch) {
        uint64_t tag = 0;
        if (status.isOk() && blocked_) {
          pending->done.set_value({Outcome::kUnavailable,
                                   "RabbitMQ refuses new messages for now (resource "
                                   "alarm: connection blocked)"});
          continue;
        }
        if (status.isOk()) {
          publishingSince_ = nowTicks();
          status = publisher->publishAsync("", settings_.queue, {pending->body, pending->messageId}, &tag);
          publishingSince_ = 0;
        }
        if (status.isOk()) {
          inFlight.emplace(tag, std::move(pending));
        } else {
          pending->done.set_value(
              {Outcome::kUnavailable, "RabbitMQ did not take the order: " + status.message()});
        }
      }
      if (status.isOk() && inFlight.empty()) {
        status = publisher->serviceIdle(std::chrono::milliseconds(0));
        noteBlocked();
        lastProgress = SteadyClock::now();
      } else if (status.isOk()) {
        // A short wait (well under a confirm's round trip, about 1.5 ms on a quiet machine): orders that
        // arrive meanwhile are published on the next turn.
        status = publisher->collectConfirms(std::chrono::microseconds(200), &settled);
        answerSettled();
        noteBlocked();
        // While blocked the broker reads nothing: the orders on the wire wait for the unblock (their
        // clients got 503 after confirmTimeout) and the connection is kept.
        if (!blocked_ && SteadyClock::now() - lastProgress > settings_.confirmTimeout) {
          // A broker that stops confirming is treated as gone: reconnect, without a polite close that
          // would wait for its answer.
          status = connection->lose("no publisher confirm within " +
                                    std::to_string(settings_.confirmTimeout.count()) + " ms");
          break;
        }
      }
      if (!status.isOk() && status.connectionLost()) {
        break;
      }
      if (!status.isOk()) {
        status = amqp::Status::ok();  // that order was answered; the connection still serves the next
      }
    }
    // Whatever is still unconfirmed has an unknown outcome: the client is told 503 and may retry (the
    // message id makes a duplicate harmless).
    for (auto& [tag, pending] : inFlight) {
      pending->done.set_value({Outcome::kUnavailable, stopping_
                                                          ? std::string("the gateway is shutting down")
                                                          : "RabbitMQ connection lost: " + status.message()});
    }
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
