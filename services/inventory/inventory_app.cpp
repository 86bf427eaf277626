#include "inventory/inventory_app.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "base/log.h"
#include "base/retry.h"
#include "inventory/movie_routes.h"
#include "inventory/movie_store.h"

namespace mp::inventory {

InventorySettings readSettings(Environment& env) {
  InventorySettings settings;
  settings.service = readServiceSettings(env, "inventory-app", "INVENTORY_APP_PORT", 8080);
  settings.databaseUrl = env.requiredUrl("INVENTORY_DATABASE_URL", {"postgresql", "postgres"},
                                         "libpq URI of the movies database");
  auto& pool = settings.pool.pool;
  pool.size = static_cast<size_t>(env.integer("DB_POOL_SIZE", 8, 1, 256, "PostgreSQL connections"));
  pool.statementTimeout =
      env.duration("DB_STATEMENT_TIMEOUT", std::chrono::seconds(5), "longest time one SQL statement may run");
  pool.applicationName = "inventory-app";
  // A failover (Patroni moving the primary) or a restart closes every connection for a second or two:
  // statements wait that out rather than answer 503 at once.
  settings.pool.failoverWait = env.duration("DB_FAILOVER_WAIT", std::chrono::milliseconds(1500),
                                            "how long statements wait for a reconnect after the database "
                                            "closed the pool's connections (0: 503 at once)");
  settings.pool.pipelineDepth = static_cast<size_t>(env.integer(
      "DB_PIPELINE_DEPTH", 1, 1, 64, "SQL statements sent on one connection before the first is answered"));
  // Lists wait on a worker (MovieStore::list): one per connection, so that a list never waits for a
  // connection while holding a thread another list could use.
  settings.service.server.workerThreads = pool.size;
  return settings;
}

int run(const InventorySettings& settings) {
  log::setup(settings.service.service, settings.service.logLevel);
  ServiceMetrics metrics(settings.service.service);
  // One share of the connections per reactor thread, driven by it: a request's statement is sent, its
  // answer read and the request answered on the thread that parsed it.
  pg::AsyncPoolOptions poolOptions = settings.pool;
  poolOptions.loops = static_cast<size_t>(std::max(settings.service.server.reactorThreads, 1));
  poolOptions.hosted = true;
  pg::AsyncPool pool(settings.databaseUrl, MovieStore::statements(), poolOptions, &metrics,
                     settings.service.service);
  MovieStore store(pool);
  http::HttpServer server(settings.service.server, metrics);
  for (size_t reactor = 0; reactor < pool.loops(); ++reactor) {
    server.host(reactor, pool.loop(reactor));
  }
  addMovieRoutes(server, store);

  std::atomic<bool> migrated{false};
  std::atomic<bool> stopping{false};
  server.setReadiness([&] {
    if (!migrated) {
      return Status::unavailable("database schema not migrated yet");
    }
    return pool.ping();
  });
  // Migrations wait for the database in the background so that /healthz answers meanwhile. They need one
  // connection for a session (an advisory lock, a transaction per migration): a blocking pool of one,
  // closed once they are applied.
  std::thread migrator([&] {
    pg::PoolOptions options = settings.pool.pool;
    options.size = 1;
    pg::Pool session(settings.databaseUrl, {}, options, nullptr, settings.service.service);
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
    retryUntilStopped(stopping, backoff, [&](std::chrono::milliseconds retryIn) {
      Status migration = pg::migrate(session, "inventory", MovieStore::migrations());
      if (!migration.ok()) {
        log::warn("migration_failed", {{"reason", migration.message()}, {"retry_in_ms", retryIn.count()}});
        return false;
      }
      migrated = true;
      log::info("ready", {{"schema", "migrated"}});
      return true;
    });
  });
  int code = serveUntilSignal(server, settings.service);
  stopping = true;
  migrator.join();
  return code;
}

}  // namespace mp::inventory
