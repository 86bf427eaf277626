// Runs the hostile-request corpus (tests/hostile/corpus.json) over raw TCP against a real api-gateway,
// inventory-app and billing-app (real PostgreSQL and RabbitMQ behind them). Each entry is sent to each of
// its targets and must get the outcome it states: a specific 4xx with the JSON error of docs/openapi.yaml,
// the answer "Connection: close" for malformed HTTP, or (for slowloris entries) the connection held open
// while the service goes on answering others. After every entry each target must still answer a good request.
//
// An entry: {"name", "targets": [...], "request": PARTS, "body": PARTS, "expect": OUTCOME,
//            "expect_by_target": {target: OUTCOME}, "hold": true, "connections": N}
// PARTS is a string or a list of strings, {"repeat": TEXT, "times": N} and {"hex": "ff00"}; in the request
// "{path}" is the target's JSON endpoint, "{length}" the body's byte count and "{body}" the body itself.
// OUTCOME is {"status": 400, "error": "invalid_json", "close": true}, or {"held": true}.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/status.h"
#include "support/broker.h"
#include "support/http_client.h"
#include "support/services.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;

struct Target {
  std::string name;
  ServiceProcess* process;
  std::string jsonPath;  // its endpoint that reads a JSON body
  std::string goodPath;  // a request that must keep working
};

std::string expand(const json& parts) {
  if (parts.is_null()) {
    return "";
  }
  if (parts.is_string()) {
    return parts.get<std::string>();
  }
  if (parts.is_object()) {
    if (parts.contains("hex")) {
      std::string hex = parts["hex"], bytes;
      for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      }
      return bytes;
    }
    std::string unit = expand(parts["repeat"]), text;
    int times = parts.at("times");
    text.reserve(unit.size() * static_cast<size_t>(times));
    for (int i = 0; i < times; ++i) {
      text += unit;
    }
    return text;
  }
  std::string text;
  for (const auto& part : parts) {
    text += expand(part);
  }
  return text;
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

std::string buildRequest(const json& entry, const Target& target) {
  std::string body = expand(entry.value("body", json()));
  std::string request = expand(entry.at("request"));
  replaceAll(request, "{path}", target.jsonPath);
  replaceAll(request, "{length}", std::to_string(body.size()));
  if (request.find("{body}") != std::string::npos) {
    replaceAll(request, "{body}", body);
  } else {
    request += body;
  }
  return request;
}

// A raw connection that sends a request and keeps it open without reading (slowloris).
class HeldConnection {
 public:
  HeldConnection(uint16_t port, const std::string& bytes) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                 ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  ~HeldConnection() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  HeldConnection(const HeldConnection&) = delete;
  HeldConnection& operator=(const HeldConnection&) = delete;
  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string describe(const HttpReply& reply) {
  std::string text = std::to_string(reply.status);
  if (reply.closed) {
    text += " (close)";
  }
  return text + " " + reply.body.substr(0, 160);
}

class HostileCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    moviesDb_ = new TestDatabase("hostile_movies");
    ordersDb_ = new TestDatabase("hostile_orders");
    queue_ = "hostile_" + std::to_string(::getpid());
    const std::string amqpUrl = requiredEnv("MP_TEST_AMQP_URL");
    inventory_ = inventoryApp(moviesDb_->url());
    ASSERT_TRUE(inventory_->start()) << inventory_->output();
    billing_ = billingApp(ordersDb_->url(), amqpUrl, queue_);
    ASSERT_TRUE(billing_->start()) << billing_->output();
    gateway_ = apiGateway(inventory_->port(), {{"RABBITMQ_URL", amqpUrl}, {"BILLING_QUEUE", queue_}});
    ASSERT_TRUE(gateway_->start()) << gateway_->output();
    for (auto* process : {inventory_.get(), billing_.get(), gateway_.get()}) {
      ASSERT_TRUE(waitForStatus(process->port(), "/readyz", 200, std::chrono::seconds(30)))
          << process->output();
    }
  }
  static void TearDownTestSuite() {
    for (auto* process : {&gateway_, &billing_, &inventory_}) {
      if (*process && (*process)->running()) {
        EXPECT_EQ((*process)->stop(), 0) << "a clean drain after the corpus";
      }
      process->reset();
    }
    deleteBillingTopology(queue_);
    delete ordersDb_;
    delete moviesDb_;
  }

  static TestDatabase* moviesDb_;
  static TestDatabase* ordersDb_;
  static inline std::unique_ptr<ServiceProcess> inventory_;
  static inline std::unique_ptr<ServiceProcess> billing_;
  static inline std::unique_ptr<ServiceProcess> gateway_;
  static std::string queue_;
};

TestDatabase* HostileCorpus::moviesDb_ = nullptr;
TestDatabase* HostileCorpus::ordersDb_ = nullptr;
std::string HostileCorpus::queue_;

// Whether the service still serves a good request, over a fresh connection: ok, or kUnavailable with
// what happened instead.
Status stillServes(const Target& target) {
  if (!target.process->running()) {
    return Status::unavailable("the process is gone:\n" + target.process->output());
  }
  HttpClient client(target.process->port(), std::chrono::seconds(5));
  auto reply = client.request("GET", target.goodPath);
  if (reply.status != 200) {
    return Status::unavailable("GET " + target.goodPath + " answered " + describe(reply));
  }
  return okStatus();
}

TEST_F(HostileCorpus, EveryEntryGetsItsOutcomeAndTheServicesKeepServing) {
  std::ifstream file(requiredEnv("MP_HOSTILE_CORPUS"));
  ASSERT_TRUE(file) << "cannot read the corpus";
  json corpus = json::parse(file);
  ASSERT_GE(corpus.at("entries").size(), 60u) << "the corpus holds at least 60 hostile requests";
  std::map<std::string, Target> targets = {
      {"gateway", {"gateway", gateway_.get(), "/api/billing", "/api/movies?limit=1"}},
      {"inventory", {"inventory", inventory_.get(), "/api/movies", "/api/movies?limit=1"}},
      {"billing", {"billing", billing_.get(), "/api/orders", "/api/orders?limit=1"}},
  };
  int sent = 0;
  int failed = 0;
  for (const auto& entry : corpus.at("entries")) {
    const std::string name = entry.at("name");
    for (const std::string targetName : entry.at("targets")) {
      SCOPED_TRACE(name + " -> " + targetName);
      ASSERT_TRUE(targets.count(targetName)) << "unknown target " << targetName;
      const Target& target = targets.at(targetName);
      json expect = entry.at("expect");
      if (entry.contains("expect_by_target") && entry["expect_by_target"].contains(targetName)) {
        expect = entry["expect_by_target"][targetName];
      }
      std::string bytes = buildRequest(entry, target);
      ++sent;
      bool ok = true;
      std::string outcome;
      if (expect.value("held", false)) {
        // Slowloris: incomplete requests stay open while a good request is still answered at once.
        std::vector<std::unique_ptr<HeldConnection>> held;
        for (int i = 0; i < entry.value("connections", 1); ++i) {
          held.push_back(std::make_unique<HeldConnection>(target.process->port(), bytes));
          ok = ok && held.back()->connected();
        }
        Status served = ok ? stillServes(target) : Status::unavailable("a held connection did not connect");
        ok = served.ok();
        outcome = ok ? "held, others served" : "not served while held: " + served.message();
      } else {
        HttpClient client(target.process->port(), std::chrono::seconds(5));
        auto reply = client.raw(bytes);
        outcome = describe(reply);
        const int status = expect.at("status");
        ok = reply.status == status;
        if (ok && expect.contains("error")) {
          auto body = json::parse(reply.body, nullptr, false);
          ok = body.is_object() && body.value("error", "") == expect["error"].get<std::string>() &&
               body.contains("message");
        }
        if (ok && expect.value("close", false)) {
          ok = reply.closed;
        }
      }
      if (Status served = stillServes(target); !served.ok()) {
        ok = false;
        outcome += "; afterwards " + served.message();
      }
      EXPECT_TRUE(ok) << "expected " << expect.dump() << ", got " << outcome;
      failed += ok ? 0 : 1;
      std::cout << (ok ? "ok   " : "FAIL ") << targetName << ": " << name << " -> " << outcome.substr(0, 100)
                << "\n";
      if (!target.process->running()) {
        FAIL() << targetName << " died; stopping";
      }
    }
  }
  std::cout << "hostile corpus: " << sent << " requests, " << failed << " failed\n";
}

}  // namespace
}  // namespace mp::test
