// The unpaged GET /api/movies of a large table, streamed: inventory-app as a real process of its own (its
// memory is measured from a fresh start) against the real PostgreSQL, spoken to over HTTP on 127.0.0.1,
// directly and through a real api-gateway (fresh too).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/http_client.h"
#include "support/services.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;

// Large enough that the whole answer (about 17 MB) is many times the memory bound below and more than
// loopback's socket buffers hold, so a client that stops reading holds the server up mid-stream.
constexpr int kMovies = 200000;
// inventory-app's peak resident memory (VmHWM) after streaming them, from a fresh start. It idles at
// about 12 MB; the code that built the whole answer first reached 150 MB here.
constexpr double kMaxPeakMegabytes = 48;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// A sanitizer keeps freed memory (ASan's quarantine, 256 MB by default) and shadows the rest: VmHWM then
// says nothing of what the code holds. The bound is checked in the release tree; here, the bytes are.
constexpr bool kPeakMeasurable = false;
#else
constexpr bool kPeakMeasurable = true;
#endif

double peakMegabytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stod(line.substr(6)) / 1024;
    }
  }
  return -1;
}

class InventoryListStream : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase("inventory_stream");
    app_ = inventoryApp(db_->url(), {{"DB_POOL_SIZE", "4"}});
    ASSERT_TRUE(app_->start()) << app_->output();
    ASSERT_TRUE(waitForStatus(app_->port(), "/readyz", 200, std::chrono::seconds(20))) << app_->output();
    gateway_ = apiGateway(app_->port());
    ASSERT_TRUE(gateway_->start()) << gateway_->output();
    // Every 997th title has characters JSON escapes, every other one contains "even".
    db_->scalar(
        "INSERT INTO movies (id, title, description) SELECT i, 'Film ' || i || CASE WHEN i % 997 = 0 "
        "THEN ' \"quoted\" \\ ünïcode' ELSE '' END || CASE WHEN i % 2 = 0 THEN ' even' ELSE '' END, "
        "'Description of film ' || i FROM generate_series(1, " +
        std::to_string(kMovies) + ") AS i; SELECT setval('movies_id_seq', " + std::to_string(kMovies) +
        "); ANALYZE movies");
  }
  static void TearDownTestSuite() {
    if (gateway_) {
      EXPECT_EQ(gateway_->stop(), 0) << "SIGTERM must drain and exit 0";
    }
    gateway_.reset();
    if (app_) {
      EXPECT_EQ(app_->stop(), 0) << "SIGTERM must drain and exit 0";
    }
    app_.reset();
    delete db_;
    db_ = nullptr;
  }

  // The list as pages of 10000 (each one answer with a Content-Length, as every list was before it
  // streamed), joined into the one array the unpaged list must be, byte for byte.
  static std::string listByPages(const std::string& filter) {
    HttpClient client(app_->port(), std::chrono::seconds(30));
    std::string joined = "[";
    int64_t after = 0;
    for (;;) {
      auto page = client.request("GET", "/api/movies?limit=10000&after_id=" + std::to_string(after) + filter);
      EXPECT_EQ(page.status, 200);
      EXPECT_FALSE(page.chunked);
      EXPECT_TRUE(page.header("content-length"));
      if (page.body.size() <= 2) {
        break;
      }
      joined += (joined.size() > 1 ? "," : "") + page.body.substr(1, page.body.size() - 2);
      after = json::parse(page.body).back()["id"].get<int64_t>();
      if (!page.header("link")) {
        break;
      }
    }
    return joined + "]";
  }

  // Sends GET /api/movies to `port` and, once its first bytes have come, locks the table (no further batch
  // can be read, however much the sockets between would still take), makes the test database refuse
  // connections and ends its sessions. Then reads the rest of the answer. Without the lock, the sockets of
  // the two hops through the gateway (up to 32 MB each way with this kernel's tcp_rmem) took the whole list
  // before the database went away.
  static HttpReply listWithTheDatabaseLostMidway(uint16_t port) {
    HttpClient client(port, std::chrono::seconds(60));
    EXPECT_TRUE(client.sendOnly("GET /api/movies HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    EXPECT_TRUE(client.receiveAtLeast(1)) << "the list never began";
    SqlSession locker(db_->url());
    locker.scalar("BEGIN; LOCK TABLE movies IN ACCESS EXCLUSIVE MODE");
    SqlSession admin(TestDatabase::adminUrl());
    admin.scalar("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS false");
    admin.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                 db_->name() + "' AND pid <> " + std::to_string(locker.backendPid()));
    locker.scalar("ROLLBACK");
    auto reply = client.receive();
    admin.scalar("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS true");
    return reply;
  }

  // GET /api/movies from `server` whole: chunked, ended by the last chunk, the bytes the pages make up;
  // the server's peak memory (VmHWM) stays under the bound meanwhile.
  static void expectTheWholeListChunked(ServiceProcess& server, const char* name) {
    const double before = peakMegabytes(server.pid());
    HttpClient client(server.port(), std::chrono::seconds(60));
    auto reply = client.request("GET", "/api/movies");
    const double after = peakMegabytes(server.pid());
    ASSERT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.chunked);
    EXPECT_TRUE(reply.complete);
    EXPECT_FALSE(reply.header("content-length"));
    EXPECT_EQ(reply.header("content-type").value_or(""), "application/json");
    EXPECT_GT(reply.body.size(), 15u << 20);
    if (kPeakMeasurable) {
      EXPECT_LT(after, kMaxPeakMegabytes) << name << "'s VmHWM went from " << before << " MB to " << after
                                          << " MB while it sent " << reply.body.size() << " bytes";
    }
    std::cout << name << " VmHWM " << before << " MB before, " << after << " MB after sending "
              << reply.body.size() << " bytes\n";
    auto movies = json::parse(reply.body);
    ASSERT_EQ(movies.size(), static_cast<size_t>(kMovies));
    for (int i = 0; i < kMovies; ++i) {
      ASSERT_EQ(movies[i]["id"].get<int>(), i + 1);
    }
    EXPECT_TRUE(reply.body == listByPages("")) << "the streamed list differs from its pages";
    // The connection stays open for the next request.
    EXPECT_EQ(client.request("GET", "/api/movies?limit=1").status, 200);
    EXPECT_EQ(client.connectionsOpened(), 1);
  }

  // The list from `server` with the database lost midway: cut short, then served whole again.
  static void expectTheListCutShortByALostDatabase(ServiceProcess& server) {
    auto reply = listWithTheDatabaseLostMidway(server.port());
    EXPECT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.chunked);
    EXPECT_FALSE(reply.complete) << "a list cut short must not end with the last chunk";
    EXPECT_TRUE(reply.closed);
    EXPECT_GT(reply.body.size(), 0u);
    EXPECT_LT(reply.body.size(), 15u << 20);
    EXPECT_FALSE(json::accept(reply.body)) << "what arrived must not read as a whole list";
    EXPECT_TRUE(waitForStatus(app_->port(), "/readyz", 200, std::chrono::seconds(20))) << app_->output();
    // Ready once one of the pool's loops has its connection back; a list on another loop may still find
    // all of that loop's connections waiting out their backoff and be answered 503 "retry shortly": a
    // client retries, and within seconds gets the whole list.
    HttpClient after(server.port(), std::chrono::seconds(60));
    HttpReply whole;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((whole = after.request("GET", "/api/movies")).status == 503 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(whole.status, 200) << whole.body;
    EXPECT_TRUE(whole.complete);
  }

  static TestDatabase* db_;
  static inline std::unique_ptr<ServiceProcess> app_;
  static inline std::unique_ptr<ServiceProcess> gateway_;
};

TestDatabase* InventoryListStream::db_ = nullptr;

// Runs first (gtest keeps the file's order): the peak memory is the stream's, from a fresh process.
TEST_F(InventoryListStream, EveryMovieArrivesChunkedEqualToThePagesAndMemoryStaysBounded) {
  expectTheWholeListChunked(*app_, "inventory-app");
}

TEST_F(InventoryListStream, ATitleFilterStreamsTheSameWay) {
  HttpClient client(app_->port(), std::chrono::seconds(60));
  auto reply = client.request("GET", "/api/movies?title=EVEN");
  ASSERT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.chunked);
  EXPECT_TRUE(reply.complete);
  auto movies = json::parse(reply.body);
  ASSERT_EQ(movies.size(), static_cast<size_t>(kMovies / 2));
  EXPECT_EQ(movies.front()["id"], 2);
  EXPECT_EQ(movies.back()["id"], kMovies);
  EXPECT_TRUE(reply.body == listByPages("&title=EVEN")) << "the streamed list differs from its pages";
}

TEST_F(InventoryListStream, AListThatFitsOneBatchIsOneAnswerWithItsLength) {
  HttpClient client(app_->port());
  auto reply = client.request("GET", "/api/movies?title=%22quoted%22");
  ASSERT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.chunked);
  EXPECT_EQ(reply.header("content-length").value_or(""), std::to_string(reply.body.size()));
  EXPECT_EQ(json::parse(reply.body).size(), static_cast<size_t>(kMovies / 997));
}

// The database goes away while the list is half sent: the answer ends without its last chunk, so the
// client cannot take what it got for the whole list; then inventory-app serves again.
TEST_F(InventoryListStream, ADatabaseLostMidStreamCutsTheAnswerShort) {
  expectTheListCutShortByALostDatabase(*app_);
  EXPECT_TRUE(app_->waitForOutput("list_stream_failed", std::chrono::seconds(5))) << app_->output();
}

// The gateway passes the stream on as it comes, never gathering it: the same bytes, chunked, its memory
// bounded too (a fresh gateway: it served nothing before).
TEST_F(InventoryListStream, TheGatewayPassesTheStreamOnWithoutGatheringIt) {
  expectTheWholeListChunked(*gateway_, "api-gateway");
  HttpClient client(gateway_->port(), std::chrono::seconds(60));
  EXPECT_TRUE(client.request("GET", "/api/movies?title=EVEN").body == listByPages("&title=EVEN"));
}

// inventory-app cuts its answer short; the gateway cuts its own the same way.
TEST_F(InventoryListStream, ThroughTheGatewayADatabaseLostMidStreamCutsTheAnswerShort) {
  expectTheListCutShortByALostDatabase(*gateway_);
  EXPECT_TRUE(gateway_->waitForOutput("upstream_failed", std::chrono::seconds(5))) << gateway_->output();
}

// A client that stops reading for longer than the gateway's UPSTREAM_TIMEOUT (the gateway then stops
// reading inventory-app's answer) is waited for, not answered "upstream timed out" halfway.
TEST_F(InventoryListStream, AClientThatPausesLongerThanTheUpstreamTimeoutGetsTheWholeList) {
  auto gateway = apiGateway(app_->port(), {{"UPSTREAM_TIMEOUT", "500ms"}});
  ASSERT_TRUE(gateway->start()) << gateway->output();
  HttpClient client(gateway->port(), std::chrono::seconds(60));
  // The gateway can then write at most this and its socket's send buffer (4 MB at most) ahead: it has to
  // wait for this client long before the list's 16 MB are out.
  client.limitReceiveBuffer(64 * 1024);
  ASSERT_TRUE(client.sendOnly("GET /api/movies HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  ASSERT_TRUE(client.receiveAtLeast(1));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto reply = client.receive();
  EXPECT_TRUE(reply.complete) << gateway->output();
  EXPECT_EQ(json::parse(reply.body, nullptr, false).size(), static_cast<size_t>(kMovies));
  EXPECT_EQ(gateway->stop(), 0);
}

}  // namespace
}  // namespace mp::test
