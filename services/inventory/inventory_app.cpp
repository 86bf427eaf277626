#include "inventory/inventory_app.h"

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
  settings.pool.size = static_cast<size_t>(
      env.integer("DB_POOL_SIZE", 8, 1, 256, "PostgreSQL connections, and threads that may wait on them"));
  settings.pool.statementTimeout =
      env.duration("DB_STATEMENT_TIMEOUT", std::chrono::seconds(5), "longest time one SQL statement may run");
  settings.pool.applicationName = "inventory-app";
  // One worker per connection: a request never waits for a connection while holding a thread.
  settings.service.server.workerThreads = settings.pool.size;
  return settings;
}

int run(const InventorySettings& settings) {
  log::setup(settings.service.service, settings.service.logLevel);
  ServiceMetrics metrics(settings.service.service);
  pg::Pool pool(settings.databaseUrl, MovieStore::statements(), settings.pool, &metrics,
                settings.service.service);
  MovieStore store(pool);
  http::HttpServer server(settings.service.server, metrics);
  addMovieRoutes(server, store);

  std::atomic<bool> migrated{false};
  std::atomic<bool> stopping{false};
  server.setReadiness([&] {
    if (!migrated) {
      return Status::unavailable("database schema not migrated yet");
    }
    return pool.ping();
  });
  // Migrations wait for the database in the background so that /healthz answers meanwhile.
  std::thread migrator([&] {
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
    retryUntilStopped(stopping, backoff, [&](std::chrono::milliseconds retryIn) {
      Status migration = pg::migrate(pool, "inventory", MovieStore::migrations());
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
