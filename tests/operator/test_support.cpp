#include "test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "client/http.h"
#include "client/prometheus_client.h"

namespace mp::op::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mp-operator-test.XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

FakeExporter::FakeExporter()
    : server_([this](HttpExchange& exchange) {
        std::ostringstream body;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          for (const auto& [series, value] : values_) {
            body << series << " " << value << "\n";
          }
        }
        exchange.respond(200, body.str(), "text/plain; version=0.0.4");
      }) {}

void FakeExporter::set(const std::string& series, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  values_[series] = value;
}

void FakeExporter::remove(const std::string& series) {
  std::lock_guard<std::mutex> lock(mutex_);
  values_.erase(series);
}

PrometheusServer::PrometheusServer(const std::string& dataDir, const std::vector<std::string>& targets)
    : port_(freeLoopbackPort()) {
  std::string config = dataDir + "/prometheus.yml";
  {
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n- job_name: test\n  static_configs:\n  - targets: [";
    for (std::size_t i = 0; i < targets.size(); ++i) {
      out << (i ? ", " : "") << "'" << targets[i] << "'";
    }
    out << "]\n";
  }
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + config,
                               "--storage.tsdb.path=" + dataDir + "/tsdb",
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                               // Series vanish 5 s after their last sample rather than 5 min: tests need
                               // an "empty query" soon after an exporter stops reporting a series.
                               "--query.lookback-delta=5s"},
      dataDir + "/prometheus.log");
  bool ready = waitFor([this] { return httpGetText(url() + "/-/ready").find("Ready") != std::string::npos; },
                       std::chrono::seconds(30));
  if (!ready) {
    throw std::runtime_error("Prometheus did not become ready: " + process_->log());
  }
}

bool PrometheusServer::waitForData(const std::string& query, std::chrono::milliseconds timeout) const {
  PrometheusClient client(url(), nullptr);
  return waitFor(
      [&] {
        auto result = client.query(query);
        return result.ok() && !result.value().empty();
      },
      timeout);
}

void PrometheusServer::stop() {
  if (process_) {
    process_->stop(SIGTERM);
  }
}

std::string httpGetText(const std::string& url) {
  HttpRequest request;
  request.url = url;
  request.timeoutMs = 2000;
  auto response = httpPerform(request);
  return response.ok() && response.value().status == 200 ? response.value().body : std::string();
}

}  // namespace mp::op::test

#include <yaml-cpp/yaml.h>

namespace mp::op::test {
namespace {

nlohmann::json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& item : node) {
        object[item.first.as<std::string>()] = toJson(item.second);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) {
        array.push_back(toJson(item));
      }
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "!") {
        return text;  // quoted
      }
      if (text == "true" || text == "false") {
        return text == "true";
      }
      if (text == "null" || text == "~") {
        return nullptr;
      }
      nlohmann::json number = nlohmann::json::parse(text, nullptr, false);
      if (!number.is_discarded() && number.is_number()) {
        return number;
      }
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace

nlohmann::json loadYamlAsJson(const std::string& path) {
  return toJson(YAML::LoadFile(path));
}

std::string sourcePath(const std::string& relative) {
  const char* root = std::getenv("MP_SOURCE_DIR");
  return std::string(root == nullptr ? "." : root) + "/" + relative;
}

nlohmann::json conditionOf(const nlohmann::json& policy, const std::string& type) {
  for (const auto& c :
       policy.value("status", nlohmann::json::object()).value("conditions", nlohmann::json::array())) {
    if (c.value("type", "") == type) {
      return c;
    }
  }
  return nlohmann::json::object();
}

std::set<std::tuple<std::string, std::string, std::string>> rbacGrants(const nlohmann::json& rules) {
  std::set<std::tuple<std::string, std::string, std::string>> grants;
  for (const auto& rule : rules) {
    for (const auto& group : rule.at("apiGroups")) {
      for (const auto& resource : rule.at("resources")) {
        for (const auto& verb : rule.at("verbs")) {
          grants.emplace(verb.get<std::string>(), group.get<std::string>(), resource.get<std::string>());
        }
      }
    }
  }
  return grants;
}

}  // namespace mp::op::test
