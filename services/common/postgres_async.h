#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "common/postgres.h"
#include "http/event_loop.h"
#include "http/metrics.h"

namespace mp::pg {

struct AsyncPoolOptions {
  PoolOptions pool;  // connections, timeouts, backoff, application name
  // Statements sent on one connection before the first of them is answered (libpq's pipeline mode). 1: a
  // statement goes only to a connection with nothing in flight, so a slow statement delays no other.
  size_t pipelineDepth = 1;
  // Statements waiting for a connection; more are refused at once (kUnavailable).
  size_t queueLimit = 4096;
  // The longest a statement waits for a connection before it ends kUnavailable.
  std::chrono::milliseconds queueWait{2000};
  // After a connection that worked was lost (the server restarted, or a failover moved the address to a
  // new primary), how long statements wait for a reconnect, tried every 100 ms, instead of ending
  // kUnavailable at once while every connection is down. Zero, or a server down for longer or never
  // reached: they end at once. queueWait still bounds each statement's wait.
  std::chrono::milliseconds failoverWait{0};
  // Event loops the connections are split over (at least one connection each).
  size_t loops = 1;
  // false: each loop runs on a thread of its own. true: each is driven by a host (loop(i), handed to
  // e.g. HttpServer::host), so a statement started on a host's thread is sent, answered and its `done`
  // run on that thread, without a hand-over; the hosts must stop before the pool is destroyed.
  bool hosted = false;
};

// A fixed number of libpq connections to one database, driven by event loops (epoll, libpq's non-blocking
// API; threads of their own, or hosted): a statement parks no thread while it waits for its answer. A
// statement goes to the loop of the thread that runs it when that thread drives one, else to the next
// loop in turn. Each
// connection opens in the background, prepares the pool's statements on their first use there, and comes
// back after the server went away with capped exponential backoff. A statement goes to the connection
// with the fewest in flight, at most pipelineDepth on one; with none free it waits, in order, for one.
// When every connection is down and waiting out its backoff, a statement ends kUnavailable at once, but
// within failoverWait of losing a working connection, when it waits for the reconnect.
// Results have the codes of pg::Result, and statements are retried as pg::Retry says. Thread-safe:
// run() from any thread; `done` runs on the loop's thread, exactly once per statement, and must not block.
class AsyncPool {
 public:
  using Done = std::function<void(Result)>;

  AsyncPool(std::string url, std::vector<Statement> statements, AsyncPoolOptions options,
            ServiceMetrics* metrics, const std::string& service);
  // Stops the loop; statements still queued or in flight end kUnavailable ("shutting down").
  ~AsyncPool();
  AsyncPool(const AsyncPool&) = delete;
  AsyncPool& operator=(const AsyncPool&) = delete;

  // Runs one of the pool's statements with `params`.
  void run(const std::string& statement, Params params, Done done);

  // run(), and waits for its result. Blocks: never call it on the loop thread.
  Result runAndWait(const std::string& statement, Params params);

  // Whether a connection answers a trivial query within `wait`. Blocks: never call it on the loop thread.
  Status ping(std::chrono::milliseconds wait = std::chrono::milliseconds(1000));

  size_t loops() const;
  // Loop `index` (0..loops()-1), for its host to drive (AsyncPoolOptions::hosted).
  HostedLoop& loop(size_t index);

  struct Loop;

 private:
  std::unique_ptr<ConnectionGauges> gauges_;
  LoopGroup<Loop> loops_;
};

}  // namespace mp::pg
