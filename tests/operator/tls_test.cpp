// TLS towards the API server is verified: checked against a real TLS server (openssl s_server) with a
// certificate made for the test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "client/kube_client.h"
#include "test_support.h"

namespace mp::op::test {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = dir_.path() + "/cert.pem";
    std::string key = dir_.path() + "/key.pem";
    std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
        "subjectAltName=IP:127.0.0.1 -keyout " +
        key + " -out " + cert_ + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0);
    port_ = freeLoopbackPort();
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/openssl", "s_server", "-quiet", "-www", "-accept",
                                 "127.0.0.1:" + std::to_string(port_), "-cert", cert_, "-key", key},
        dir_.path() + "/s_server.log");
    HttpRequest probe;
    probe.url = url();
    probe.tls.insecureSkipVerify = true;
    probe.timeoutMs = 1000;
    ASSERT_TRUE(waitFor([&] { return httpPerform(probe).ok(); }, std::chrono::seconds(10))) << server_->log();
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  TempDir dir_;
  std::string cert_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> server_;
};

TEST_F(TlsTest, AnUntrustedCertificateIsRefused) {
  KubeConnection conn;
  conn.server = url();
  KubeClient client(conn, "test");
  auto result = client.get("/version");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().httpStatus(), 0) << "no HTTP exchange may happen over an unverified connection";
}

TEST_F(TlsTest, TheConfiguredCaIsTrustedFromAFileOrFromData) {
  std::ifstream in(cert_);
  std::stringstream pem;
  pem << in.rdbuf();
  for (bool fromData : {false, true}) {
    KubeConnection conn;
    conn.server = url();
    (fromData ? conn.tls.caPem : conn.tls.caFile) = fromData ? pem.str() : cert_;
    KubeClient client(conn, "test");
    auto result = client.get("/version");
    // openssl's -www answers with an HTML status page: the TLS handshake and HTTP exchange worked.
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().httpStatus(), 200) << result.status().message();
    EXPECT_EQ(result.status().reason(), "BadResponse");
  }
}

}  // namespace
}  // namespace mp::op::test
