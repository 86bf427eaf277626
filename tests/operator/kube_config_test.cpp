#include "client/kube_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "client/kube_client.h"
#include "http_test_server.h"
#include "test_support.h"

namespace mp::op {
namespace {

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(base64Decode("aGVsbG8=").value(), "hello");
  EXPECT_EQ(base64Decode("aGVsbG8").value(), "hello");
  EXPECT_EQ(base64Decode("LS0tLS1CRUdJTg==").value(), "-----BEGIN");
  EXPECT_FALSE(base64Decode("not*base64").ok());
}

TEST(Kubeconfig, PicksTheContextAndItsClusterAndUser) {
  test::TempDir dir;
  writeFile(dir.path() + "/ca.crt", "CA");
  writeFile(dir.path() + "/config", R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443/
    certificate-authority-data: Q0EtUEVN
- name: lab-cluster
  cluster:
    server: https://lab.example:6443
    certificate-authority: ca.crt
users:
- name: dev-user
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: lab-user
  user:
    token: lab-token
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user}
- name: lab
  context: {cluster: lab-cluster, user: lab-user, namespace: movies}
)");
  auto dev = loadKubeconfig(dir.path() + "/config", "");
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  EXPECT_EQ(dev.value().server, "https://dev.example:6443");
  EXPECT_EQ(dev.value().tls.caPem, "CA-PEM");
  EXPECT_EQ(dev.value().tls.clientCertPem, "CERT");
  EXPECT_EQ(dev.value().tls.clientKeyPem, "KEY");
  EXPECT_FALSE(dev.value().tls.insecureSkipVerify);
  auto lab = loadKubeconfig(dir.path() + "/config", "lab");
  ASSERT_TRUE(lab.ok());
  EXPECT_EQ(lab.value().bearerToken, "lab-token");
  EXPECT_EQ(lab.value().tls.caFile, dir.path() + "/ca.crt");
  EXPECT_EQ(lab.value().namespaceName, "movies");
  auto missing = loadKubeconfig(dir.path() + "/config", "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no context \"nope\""), std::string::npos);
  EXPECT_FALSE(loadKubeconfig(dir.path() + "/absent", "").ok());
}

TEST(InCluster, ReadsTheServiceAccountAndEnvironment) {
  test::TempDir dir;
  writeFile(dir.path() + "/token", "t1\n");
  writeFile(dir.path() + "/ca.crt", "CA");
  writeFile(dir.path() + "/namespace", "movies\n");
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_FALSE(loadInCluster(dir.path()).ok());
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto conn = loadInCluster(dir.path());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(conn.ok()) << conn.status().message();
  EXPECT_EQ(conn.value().server, "https://10.0.0.1:443");
  EXPECT_EQ(conn.value().tls.caFile, dir.path() + "/ca.crt");
  EXPECT_EQ(conn.value().tokenFile, dir.path() + "/token");
  EXPECT_EQ(conn.value().namespaceName, "movies");
}

TEST(KubeClient, SendsTheTokenAndRereadsItWhenTheFileRotates) {
  test::TempDir dir;
  std::mutex mutex;
  std::vector<std::string> seen;
  test::HttpTestServer server([&](test::HttpExchange& exchange) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(exchange.request().headers.count("authorization")
                       ? exchange.request().headers.at("authorization")
                       : "");
    exchange.respond(200, "{}");
  });
  KubeConnection conn;
  conn.server = server.url();
  conn.tokenFile = dir.path() + "/token";
  writeFile(conn.tokenFile, "first\n");
  KubeClient client(conn, "test");
  ASSERT_TRUE(client.get("/api/v1/pods").ok());
  // Rotation writes a new file; make sure its mtime differs even on coarse clocks.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  writeFile(conn.tokenFile, "second\n");
  ASSERT_TRUE(client.get("/api/v1/pods").ok());
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "Bearer first");
  EXPECT_EQ(seen[1], "Bearer second");
}

TEST(KubeClient, ReturnsStatusErrorsAsValues) {
  test::HttpTestServer server([](test::HttpExchange& exchange) {
    exchange.respond(
        409, R"({"kind":"Status","reason":"Conflict","message":"the object has been modified","code":409})");
  });
  KubeConnection conn;
  conn.server = server.url();
  KubeClient client(conn, "test");
  auto result = client.update("/api/v1/namespaces/d/pods/p", {{"metadata", {{"name", "p"}}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().httpStatus(), 409);
  EXPECT_EQ(result.status().reason(), "Conflict");
  EXPECT_TRUE(client.reachable());
  server.stop();
  auto down = client.get("/api/v1/pods");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().httpStatus(), 0);
  EXPECT_FALSE(client.reachable());
}

}  // namespace
}  // namespace mp::op
