// The bounded load of the fault-injection run (tests/reliability/fault-injection): billing posts, movie
// writes and movie reads through the gateway, paced over a fixed time, every answer recorded with its
// wall-clock time so the script can match it against the faults it injected and the rows in PostgreSQL.
//
//   fault-load PORT SECONDS BILLING_POSTS RUN_ID TIMEOUT_MS OUT_DIR
//
// Writes OUT_DIR/billing.tsv (user_id, status, start_ms, latency_ms; one line per attempt) and
// OUT_DIR/movies.tsv (kind, status, start_ms, latency_ms, title, id). Status 0 is "no answer": a hang when
// latency reached TIMEOUT_MS, a refused or dropped connection otherwise. Each billing post carries its own
// user_id, the identity its row in `orders` is found by (the gateway answers only "Message posted"), and
// the same value as its Idempotency-Key: a post answered 503 is retried, as a client would, with that key
// (every 250 ms, for at most 30 s), so a retry of an order that did reach the queue is stored only once.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kBillingThreads = 8;
constexpr int kWriterThreads = 2;
constexpr int kReaderThreads = 2;
constexpr milliseconds kWriteInterval{40};  // per writer: ~50 movie writes/s in all
constexpr milliseconds kReadInterval{20};   // per reader: ~100 reads/s in all
constexpr milliseconds kRetryPause{250};    // between attempts of a billing post answered 503
constexpr std::chrono::seconds kRetryFor{30};
constexpr std::chrono::seconds kOverrun{120};  // the longest the movie load waits for STOP_FILE

int64_t wallMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One line per request, written by many threads.
class Record {
 public:
  explicit Record(const std::string& path) : out_(path) {}
  bool ok() const { return out_.good(); }
  void line(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    out_ << text << '\n';
  }

 private:
  std::mutex mutex_;
  std::ofstream out_;
};

struct Timed {
  mp::test::HttpReply reply;
  int64_t startMs;
  int64_t latencyMs;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

Timed timedRequest(mp::test::HttpClient& client, const std::string& method, const std::string& target,
                   const std::string& body, const Headers& headers = {{"Content-Type", "application/json"}}) {
  int64_t start = wallMs();
  auto began = Clock::now();
  auto reply = client.request(method, target, body, headers);
  auto latency = std::chrono::duration_cast<milliseconds>(Clock::now() - began).count();
  return {std::move(reply), start, latency};
}

std::string fields(const Timed& t) {
  return std::to_string(t.reply.status) + '\t' + std::to_string(t.startMs) + '\t' +
         std::to_string(t.latencyMs);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    std::fprintf(stderr,
                 "usage: fault-load PORT SECONDS BILLING_POSTS RUN_ID TIMEOUT_MS OUT_DIR [STOP_FILE]\n");
    return 2;
  }
  const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  const milliseconds duration{std::atol(argv[2]) * 1000};
  const long billingPosts = std::atol(argv[3]);
  const std::string runId = argv[4];
  const milliseconds timeout{std::atol(argv[5])};
  const std::string outDir = argv[6];
  // With STOP_FILE, the movie writers and readers go on past SECONDS until that file exists (at most
  // kOverrun more), so that a fault the script starts late on a slow machine still meets requests.
  const std::string stopFile = argc == 8 ? argv[7] : "";
  if (port == 0 || duration.count() <= 0 || billingPosts <= 0 || timeout.count() <= 0) {
    std::fprintf(stderr, "fault-load: PORT, SECONDS, BILLING_POSTS and TIMEOUT_MS must be positive\n");
    return 2;
  }
  Record billing(outDir + "/billing.tsv");
  Record movies(outDir + "/movies.tsv");
  if (!billing.ok() || !movies.ok()) {
    std::fprintf(stderr, "fault-load: cannot write to %s\n", outDir.c_str());
    return 1;
  }

  const auto begin = Clock::now();
  const auto end = begin + duration;
  const auto movieLoadGoesOn = [&] {
    const auto now = Clock::now();
    if (now < end)
      return true;
    return !stopFile.empty() && now < end + kOverrun && !std::filesystem::exists(stopFile);
  };
  // Billing posts are spread evenly over the run so that every fault meets some of them.
  const auto spacing = std::chrono::duration_cast<std::chrono::microseconds>(duration) / billingPosts;
  std::atomic<long> nextPost{0};
  std::atomic<long> postsDone{0};
  std::atomic<int64_t> lastMovieId{0};
  std::vector<std::thread> threads;

  for (int t = 0; t < kBillingThreads; ++t) {
    threads.emplace_back([&] {
      mp::test::HttpClient client(port, timeout);
      for (long i = nextPost++; i < billingPosts; i = nextPost++) {
        std::this_thread::sleep_until(begin + spacing * i);
        std::string userId = runId + "-" + std::to_string(i);
        // Varied but deterministic amounts, so a row can be checked against what was posted.
        std::string body =
            nlohmann::json{{"user_id", userId},
                           {"number_of_items", 1 + i % 9},
                           {"total_amount", std::to_string(i % 1000) + "." + std::to_string(10 + i % 90)}}
                .dump();
        const auto firstAttempt = Clock::now();
        for (;;) {
          auto timed = timedRequest(client, "POST", "/api/billing", body,
                                    {{"Content-Type", "application/json"}, {"Idempotency-Key", userId}});
          billing.line(userId + '\t' + fields(timed));
          if (timed.reply.status != 503 || Clock::now() - firstAttempt > kRetryFor) {
            break;
          }
          std::this_thread::sleep_for(kRetryPause);
        }
        ++postsDone;
      }
    });
  }
  for (int t = 0; t < kWriterThreads; ++t) {
    threads.emplace_back([&, t] {
      mp::test::HttpClient client(port, timeout);
      for (long n = 0; movieLoadGoesOn(); ++n) {
        std::this_thread::sleep_until(begin + kWriteInterval * n + milliseconds(t * 7));
        std::string title = runId + "-w" + std::to_string(t) + "-" + std::to_string(n);
        auto timed =
            timedRequest(client, "POST", "/api/movies",
                         nlohmann::json{{"title", title}, {"description", "fault injection"}}.dump());
        int64_t id = 0;
        if (timed.reply.status == 201) {
          auto parsed = nlohmann::json::parse(timed.reply.body, nullptr, false);
          if (parsed.is_object() && parsed.contains("id") && parsed["id"].is_number_integer()) {
            id = parsed["id"].get<int64_t>();
            lastMovieId = id;
          }
        }
        movies.line("write\t" + fields(timed) + '\t' + title + '\t' + std::to_string(id));
      }
    });
  }
  for (int t = 0; t < kReaderThreads; ++t) {
    threads.emplace_back([&, t] {
      mp::test::HttpClient client(port, timeout);
      for (long n = 0; movieLoadGoesOn(); ++n) {
        std::this_thread::sleep_until(begin + kReadInterval * n + milliseconds(t * 5));
        // Alternates a single movie (the newest written) and a page of the list.
        int64_t id = lastMovieId.load();
        std::string target =
            (n % 2 == 0 && id > 0) ? "/api/movies/" + std::to_string(id) : "/api/movies?limit=20";
        auto timed = timedRequest(client, "GET", target, "");
        movies.line("read\t" + fields(timed) + "\t-\t" + std::to_string(id));
      }
    });
  }
  // Progress every 10 s on stderr: the run lasts a minute or more.
  std::thread progress([&] {
    while (postsDone < billingPosts || Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - begin).count();
      if (elapsed % 10 == 0) {
        std::fprintf(stderr, "fault-load: %llds, %ld of %ld billing posts answered\n",
                     static_cast<long long>(elapsed), postsDone.load(), billingPosts);
      }
    }
  });
  for (auto& thread : threads) {
    thread.join();
  }
  progress.join();
  return 0;
}
