// load-harness: reads movies and posts orders through the gateway for a given time, as careful clients
// would, then reconciles every confirmed order with the rows billing-app stored; one report line and an
// exit status a test asserts on. The usage text below (kUsage, also --help) is the reference.
#include <curl/curl.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/backoff.h"
#include "base/duration.h"
#include "load/load_report.h"

namespace {

// Set by SIGUSR1: no new request starts (the duration ends now); retried orders still finish.
std::atomic<bool> gStopStarting{false};
void stopStarting(int) {
  gStopStarting = true;
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace mp::load;

constexpr const char* kUsage = R"(usage: load-harness --gateway URL [options]
       load-harness --reconcile-from RECORD (--orders-db CONNINFO | --orders-command CMD) [--settle D]

Reads movies and posts orders through the gateway for --duration, then reconciles the orders with the
billing database and prints ONE line of key=value pairs, e.g.
  load run=r1 duration_s=20.0 requests=4210 ... confirmed=840 stored=840 lost=0 duplicated=0 failed=0
  refused=0 timeout=0 reset=0 error=0 http_4xx=0 http_5xx=0 longest_failure_run=0 ... verdict=ok
Exit status: 0 when every confirmed order is stored exactly once; 1 when one is lost (confirmed 200, no
row) or any key is stored more than once; 2 for a usage or setup error (no movies to read, database
unreachable).

The load: --concurrency clients, each sending one request at a time over keep-alive: GET /api/movies/:id
of ids listed at the start (most reads), GET /api/movies?limit=20 (some), and POST /api/billing (the
--orders share). Each order has a fresh Idempotency-Key, RUN-N, which is also its user_id. An order whose
answer was lost (connection refused, reset, timed out) or was 429/502/503/504 is sent again with the SAME
key after a backoff (100 ms, doubling to 2 s), at most --attempts times; reads are not retried (a failed
read waits 50 ms). Writes carry "Authorization: Bearer $API_GATEWAY_TOKEN" when that is set.

The reconciliation counts, per key of the run, the rows of billing's `orders` table whose user_id is the
key (and those whose message_id is "key:<key>"): confirmed orders are orders answered 200; stored, keys
with a row; lost, confirmed keys with no row; duplicated, keys with more than one row; keyless, rows whose
message_id does not carry the key. billing-app stores asynchronously, so it polls until every confirmed
order is stored and the row count held still for a second, at most --settle.

Options:
  --gateway URL          the gateway, e.g. http://127.0.0.1:3000
  --duration D           how long to send new requests (default 20s; the duration syntax: 500ms, 20s, 1m);
                         SIGUSR1 ends it sooner (a test that stops the load once its event is over)
  --concurrency N        clients at once (default 8)
  --rate R               at most R new requests a second in all (default 0: as fast as the clients go)
  --orders P             the percentage of new requests that are orders (default 20)
  --timeout D            one request's limit (default 2s), connecting included
  --attempts N           an order's attempts at most (default 10)
  --run-id ID            the keys' prefix, letters and digits (default: from the clock)
  --record FILE          write every attempt there (the format: tests/load/load_report.h)
  --orders-db CONNINFO   the billing database (a libpq connection string or URL)
  --orders-command CMD   instead: a shell command that runs $MP_LOAD_SQL and prints its rows as
                         key|rows|rows_with_key (e.g. psql -tA -c "$MP_LOAD_SQL" through kubectl exec)
  --settle D             the longest wait for stored orders (default 30s)
  --no-reconcile         only the load (the orders' columns say 0 stored)
  --reconcile-from FILE  no load: reconcile the record FILE a run wrote
)";

struct Options {
  std::string gateway;
  milliseconds duration{20000};
  int concurrency = 8;
  double rate = 0;
  int ordersPercent = 20;
  milliseconds timeout{2000};
  int attempts = 10;
  std::string runId;
  std::string recordPath;
  std::string ordersDb;
  std::string ordersCommand;
  milliseconds settle{30000};
  bool reconcile = true;
  std::string reconcileFrom;
};

int usageError(const std::string& message) {
  std::fprintf(stderr, "load-harness: %s (load-harness --help)\n", message.c_str());
  return 2;
}

bool isRunId(const std::string& id) {
  if (id.empty() || id.size() > 40) {
    return false;
  }
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

// Nullopt after printing the reason when the arguments are wrong; *help when --help was asked.
std::optional<Options> parseOptions(int argc, char** argv, bool* help) {
  Options options;
  auto fail = [](const std::string& message) -> std::optional<Options> {
    usageError(message);
    return std::nullopt;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (name == "-h" || name == "--help") {
      *help = true;
      return options;
    }
    if (name == "--no-reconcile") {
      options.reconcile = false;
      continue;
    }
    if (i + 1 >= argc) {
      return fail("unknown option or missing value: " + name);
    }
    const std::string value = argv[++i];
    auto duration = [&](milliseconds* out) {
      auto parsed = mp::parseDuration(value);
      if (parsed) {
        *out = *parsed;
      }
      return parsed.has_value();
    };
    auto integer = [&](int* out, int low, int high) {
      char* end = nullptr;
      long parsed = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || parsed < low || parsed > high) {
        return false;
      }
      *out = static_cast<int>(parsed);
      return true;
    };
    bool ok = true;
    if (name == "--gateway") {
      options.gateway = value;
    } else if (name == "--duration") {
      ok = duration(&options.duration);
    } else if (name == "--concurrency") {
      ok = integer(&options.concurrency, 1, 1000);
    } else if (name == "--rate") {
      char* end = nullptr;
      options.rate = std::strtod(value.c_str(), &end);
      ok = !value.empty() && *end == '\0' && options.rate >= 0;
    } else if (name == "--orders") {
      ok = integer(&options.ordersPercent, 0, 100);
    } else if (name == "--timeout") {
      ok = duration(&options.timeout) && options.timeout.count() > 0;
    } else if (name == "--attempts") {
      ok = integer(&options.attempts, 1, 100);
    } else if (name == "--run-id") {
      options.runId = value;
      ok = isRunId(value);
    } else if (name == "--record") {
      options.recordPath = value;
    } else if (name == "--orders-db") {
      options.ordersDb = value;
    } else if (name == "--orders-command") {
      options.ordersCommand = value;
    } else if (name == "--settle") {
      ok = duration(&options.settle);
    } else if (name == "--reconcile-from") {
      options.reconcileFrom = value;
    } else {
      return fail("unknown option " + name);
    }
    if (!ok) {
      return fail("bad value for " + name + ": '" + value + "'");
    }
  }
  if (options.reconcileFrom.empty() && options.gateway.empty()) {
    return fail("--gateway is required");
  }
  const bool reconciling = options.reconcile || !options.reconcileFrom.empty();
  if (reconciling && options.ordersDb.empty() == options.ordersCommand.empty()) {
    return fail("one of --orders-db and --orders-command is required (or --no-reconcile)");
  }
  return options;
}

int64_t wallMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- HTTP through libcurl's multi interface -------------------------------------------------------------

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Multi = std::unique_ptr<CURLM, MultiDeleter>;
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

size_t appendBody(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

NoAnswer noAnswerOf(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
      return NoAnswer::kRefused;
    case CURLE_OPERATION_TIMEDOUT:
      return NoAnswer::kTimeout;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
      return NoAnswer::kReset;
    default:
      return NoAnswer::kError;
  }
}

// The ids GET /api/movies?limit=100 lists, tried for up to 10 s (the gateway may be starting).
std::vector<int64_t> listMovieIds(const Options& options) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (true) {
    Easy easy(curl_easy_init());
    std::string body;
    const std::string url = options.gateway + "/api/movies?limit=100";
    curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, appendBody);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &body);
    long status = 0;
    if (curl_easy_perform(easy.get()) == CURLE_OK) {
      curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
    }
    if (status == 200) {
      std::vector<int64_t> ids;
      auto movies = nlohmann::json::parse(body, nullptr, false);
      if (movies.is_array()) {
        for (const auto& movie : movies) {
          if (movie.is_object() && movie.contains("id") && movie["id"].is_number_integer()) {
            ids.push_back(movie["id"].get<int64_t>());
          }
        }
      }
      return ids;
    }
    if (Clock::now() >= deadline) {
      return {};
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
}

// One client: one request at a time on its own easy handle (so its keep-alive connection), an order
// kept, with its key and backoff, until it is answered or out of attempts.
struct Client {
  Easy easy{curl_easy_init()};
  HeaderList headers;
  std::string url;
  std::string requestBody;
  std::string answer;
  bool busy = false;           // a request in flight
  Clock::time_point wakeAt{};  // idle until then (a backoff, or the pause after a failed read)
  Attempt attempt;             // the one in flight
  Clock::time_point sentAt{};
  std::optional<mp::Backoff> orderBackoff;  // set while an order is being retried
};

class LoadRun {
 public:
  LoadRun(const Options& options, std::vector<int64_t> movieIds, std::ofstream* record)
      : options_(options), movieIds_(std::move(movieIds)), record_(record), random_(std::random_device{}()) {
    const char* token = std::getenv("API_GATEWAY_TOKEN");
    if (token != nullptr && *token != '\0') {
      authorization_ = std::string("Authorization: Bearer ") + token;
    }
  }

  // Runs the load for the duration, then lets the orders being retried finish. The attempts, in order.
  std::vector<Attempt> run() {
    Multi multi(curl_multi_init());
    std::vector<Client> clients(static_cast<std::size_t>(options_.concurrency));
    started_ = Clock::now();
    stopStarting_ = started_ + options_.duration;
    auto& stopStarting = stopStarting_;
    auto nextStart = started_;
    const auto spacing =
        options_.rate > 0
            ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / options_.rate))
            : Clock::duration::zero();
    while (true) {
      const auto now = Clock::now();
      if (gStopStarting && now < stopStarting) {
        stopStarting = now;
      }
      bool anyLeft = false;
      for (Client& client : clients) {
        if (client.busy) {
          anyLeft = true;
          continue;
        }
        if (client.orderBackoff) {  // an order waiting to be sent again
          anyLeft = true;
          if (now >= client.wakeAt) {
            send(multi.get(), client);
          }
          continue;
        }
        if (now >= stopStarting || now < client.wakeAt || now < nextStart) {
          continue;
        }
        nextStart = spacing.count() > 0 ? std::max(nextStart + spacing, now - std::chrono::seconds(1)) : now;
        begin(client);
        send(multi.get(), client);
        anyLeft = true;
      }
      if (!anyLeft && now >= stopStarting) {
        break;
      }
      int running = 0;
      curl_multi_perform(multi.get(), &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
        if (message->msg == CURLMSG_DONE) {
          finish(multi.get(), clientOf(clients, message->easy_handle), message->data.result);
        }
      }
      curl_multi_poll(multi.get(), nullptr, 0, 5, nullptr);
    }
    return std::move(attempts_);
  }

  Clock::time_point started() const { return started_; }
  // How long new requests were started: --duration, or less after SIGUSR1.
  int64_t sentForMs() const {
    return std::chrono::duration_cast<milliseconds>(stopStarting_ - started_).count();
  }

 private:
  static Client& clientOf(std::vector<Client>& clients, CURL* easy) {
    for (Client& client : clients) {
      if (client.easy.get() == easy) {
        return client;
      }
    }
    std::abort();  // every easy handle in the multi handle is a client's
  }

  // A new request: an order (a fresh key) or a read.
  void begin(Client& client) {
    Attempt& attempt = client.attempt;
    attempt = Attempt{};
    const int roll = std::uniform_int_distribution<int>(0, 99)(random_);
    if (roll < options_.ordersPercent) {
      attempt.kind = Kind::kOrder;
      attempt.key = options_.runId + "-" + std::to_string(++orders_);
      client.url = options_.gateway + "/api/billing";
      client.requestBody = R"({"user_id":")" + attempt.key + R"(","number_of_items":)" +
                           std::to_string(1 + orders_ % 9) + R"(,"total_amount":")" +
                           std::to_string(orders_ % 500) + R"(.99"})";
      client.orderBackoff.reset();
    } else if (roll < options_.ordersPercent + (100 - options_.ordersPercent) / 10) {
      attempt.kind = Kind::kList;
      client.url = options_.gateway + "/api/movies?limit=20";
    } else {
      attempt.kind = Kind::kGet;
      const auto pick = std::uniform_int_distribution<std::size_t>(0, movieIds_.size() - 1)(random_);
      client.url = options_.gateway + "/api/movies/" + std::to_string(movieIds_[pick]);
    }
  }

  void send(CURLM* multi, Client& client) {
    CURL* easy = client.easy.get();
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, client.url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, appendBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &client.answer);
    client.answer.clear();
    client.headers.reset();
    if (client.attempt.kind == Kind::kOrder) {
      curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
      list = curl_slist_append(list, ("Idempotency-Key: " + client.attempt.key).c_str());
      if (!authorization_.empty()) {
        list = curl_slist_append(list, authorization_.c_str());
      }
      client.headers.reset(list);
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, client.requestBody.c_str());
    }
    client.sentAt = Clock::now();
    client.attempt.startMs = msSinceStart(client.sentAt);
    client.busy = true;
    curl_multi_add_handle(multi, easy);
  }

  void finish(CURLM* multi, Client& client, CURLcode result) {
    curl_multi_remove_handle(multi, client.easy.get());
    client.busy = false;
    const auto now = Clock::now();
    Attempt& attempt = client.attempt;
    attempt.latencyMs = std::chrono::duration_cast<milliseconds>(now - client.sentAt).count();
    long status = 0;
    if (result == CURLE_OK) {
      curl_easy_getinfo(client.easy.get(), CURLINFO_RESPONSE_CODE, &status);
    }
    attempt.status = static_cast<int>(status);
    attempt.noAnswer = result == CURLE_OK ? NoAnswer::kNone : noAnswerOf(result);
    attempts_.push_back(attempt);
    if (record_ != nullptr) {
      writeAttempt(*record_, attempt);
    }
    if (attempt.kind == Kind::kOrder && shouldRetryOrder(attempt) && attempt.number < options_.attempts) {
      if (!client.orderBackoff) {
        client.orderBackoff.emplace(milliseconds(100), milliseconds(2000));
      }
      client.wakeAt = now + client.orderBackoff->nextDelay();
      ++attempt.number;
      return;
    }
    client.orderBackoff.reset();
    client.wakeAt = attempt.succeeded() ? now : now + milliseconds(50);
  }

  int64_t msSinceStart(Clock::time_point at) const {
    return std::chrono::duration_cast<milliseconds>(at - started_).count();
  }

  const Options& options_;
  std::vector<int64_t> movieIds_;
  std::ofstream* record_;
  std::mt19937_64 random_;
  std::string authorization_;
  Clock::time_point started_;
  Clock::time_point stopStarting_;
  int64_t orders_ = 0;
  std::vector<Attempt> attempts_;
};

// --- the reconciliation ---------------------------------------------------------------------------------

// Rows per key of the run; the key is the order's user_id (numbers and letters, so safe as a literal).
std::string storedRowsSql(const std::string& runId) {
  return "SELECT user_id, count(*), count(*) FILTER (WHERE message_id = 'key:' || user_id) FROM orders"
         " WHERE left(user_id, " +
         std::to_string(runId.size() + 1) + ") = '" + runId + "-' GROUP BY user_id";
}

struct PgConnDeleter {
  void operator()(PGconn* connection) const { PQfinish(connection); }
};
struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};

// The rows per key, or nullopt after printing why they could not be read.
std::optional<std::map<std::string, StoredRows>> readStoredRows(const Options& options,
                                                                const std::string& runId) {
  const std::string sql = storedRowsSql(runId);
  std::map<std::string, StoredRows> stored;
  if (!options.ordersDb.empty()) {
    std::unique_ptr<PGconn, PgConnDeleter> connection(PQconnectdb(options.ordersDb.c_str()));
    if (PQstatus(connection.get()) != CONNECTION_OK) {
      std::fprintf(stderr, "load-harness: the orders database: %s", PQerrorMessage(connection.get()));
      return std::nullopt;
    }
    std::unique_ptr<PGresult, PgResultDeleter> result(PQexec(connection.get(), sql.c_str()));
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      std::fprintf(stderr, "load-harness: counting orders: %s", PQresultErrorMessage(result.get()));
      return std::nullopt;
    }
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      stored[PQgetvalue(result.get(), row, 0)] = {std::atoll(PQgetvalue(result.get(), row, 1)),
                                                  std::atoll(PQgetvalue(result.get(), row, 2))};
    }
    return stored;
  }
  setenv("MP_LOAD_SQL", sql.c_str(), 1);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(options.ordersCommand.c_str(), "r"), pclose);
  if (!pipe) {
    std::perror("load-harness: --orders-command");
    return std::nullopt;
  }
  char line[512];
  while (std::fgets(line, sizeof(line), pipe.get()) != nullptr) {
    char key[256];
    long long rows = 0, rowsWithKey = 0;
    if (std::sscanf(line, "%255[^|]|%lld|%lld", key, &rows, &rowsWithKey) != 3) {
      std::fprintf(stderr, "load-harness: --orders-command printed '%s', not key|rows|rows_with_key\n", line);
      return std::nullopt;
    }
    stored[key] = {rows, rowsWithKey};
  }
  if (pclose(pipe.release()) != 0) {
    std::fprintf(stderr, "load-harness: --orders-command failed\n");
    return std::nullopt;
  }
  return stored;
}

// Polls the stored rows until every confirmed order has one and the total held still for a second, or
// the settle time is over; the last reading.
std::optional<std::map<std::string, StoredRows>> settledStoredRows(const Options& options,
                                                                   const Record& record) {
  const std::vector<std::string> confirmed = confirmedKeys(record);
  const auto deadline = Clock::now() + options.settle;
  int64_t previousTotal = -1;
  auto stillSince = Clock::now();
  while (true) {
    auto stored = readStoredRows(options, record.runId);
    if (!stored) {
      return std::nullopt;
    }
    int64_t total = 0;
    for (const auto& [key, rows] : *stored) {
      total += rows.rows;
    }
    bool allStored = true;
    for (const std::string& key : confirmed) {
      allStored = allStored && stored->count(key) > 0;
    }
    const auto now = Clock::now();
    if (total != previousTotal) {
      previousTotal = total;
      stillSince = now;
    }
    if ((allStored && now - stillSince >= std::chrono::seconds(1)) || now >= deadline) {
      return stored;
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
}

int report(const Options& options, const Record& record) {
  std::map<std::string, StoredRows> stored;
  if (options.reconcile || !options.reconcileFrom.empty()) {
    auto settled = settledStoredRows(options, record);
    if (!settled) {
      return 2;
    }
    stored = std::move(*settled);
  }
  const Summary summary = summarize(record, stored);
  std::printf("%s\n", reportLine(summary).c_str());
  std::fflush(stdout);
  return summary.lostOrDuplicated ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  std::optional<Options> options = parseOptions(argc, argv, &help);
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!options) {
    return 2;
  }
  if (!options->reconcileFrom.empty()) {
    std::ifstream in(options->reconcileFrom);
    std::string error;
    std::optional<Record> record = in ? readRecord(in, &error) : std::nullopt;
    if (!record) {
      return usageError(options->reconcileFrom + ": " + (in ? error : "cannot be read"));
    }
    return report(*options, *record);
  }
  if (options->runId.empty()) {
    options->runId = "r" + std::to_string(wallMs());
  }
  std::signal(SIGUSR1, stopStarting);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::vector<int64_t> ids = listMovieIds(*options);
  if (ids.empty()) {
    std::fprintf(stderr, "load-harness: no movie ids from %s/api/movies (is it up and seeded?)\n",
                 options->gateway.c_str());
    return 2;
  }
  std::ofstream recordFile;
  if (!options->recordPath.empty()) {
    recordFile.open(options->recordPath);
    if (!recordFile) {
      return usageError("cannot write " + options->recordPath);
    }
  }
  Record record;
  record.runId = options->runId;
  record.startedWallMs = wallMs();
  record.durationMs = options->duration.count();
  if (recordFile.is_open()) {
    writeRecordHeader(recordFile, record);
  }
  LoadRun load(*options, std::move(ids), recordFile.is_open() ? &recordFile : nullptr);
  record.attempts = load.run();
  record.durationMs = load.sentForMs();  // the record file's header keeps the --duration asked for
  recordFile.close();
  curl_global_cleanup();
  return report(*options, record);
}
