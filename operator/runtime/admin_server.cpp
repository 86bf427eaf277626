#include "runtime/admin_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>

namespace mp::op {
namespace {

using namespace Pistache;

// Answers the three admin paths; everything else is 404.
// Thread-safety: stateless apart from the callbacks, which must be thread-safe.
class AdminHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(AdminHandler)

  AdminHandler(std::function<bool()> ready, std::function<std::string()> metricsText)
      : ready_(std::move(ready)), metricsText_(std::move(metricsText)) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    // Pistache 0.0.5 closes connections unless told otherwise; Prometheus scrapes reuse them.
    response.headers().add<Http::Header::Connection>(Http::ConnectionControl::KeepAlive);
    const std::string& path = request.resource();
    if (request.method() != Http::Method::Get) {
      response.headers().addRaw(Http::Header::Raw("Allow", "GET"));
      response.send(Http::Code::Method_Not_Allowed, "{\"error\":\"method_not_allowed\"}\n",
                    MIME(Application, Json));
      return;
    }
    if (path == "/healthz") {
      response.send(Http::Code::Ok, "ok\n", MIME(Text, Plain));
    } else if (path == "/readyz") {
      bool ready = ready_();
      response.send(ready ? Http::Code::Ok : Http::Code::Service_Unavailable,
                    ready ? "ok\n" : "the Kubernetes API is not reachable\n", MIME(Text, Plain));
    } else if (path == "/metrics") {
      response.headers().addRaw(Http::Header::Raw("Content-Type", "text/plain; version=0.0.4"));
      response.send(Http::Code::Ok, metricsText_());
    } else {
      response.send(Http::Code::Not_Found, "{\"error\":\"not_found\"}\n", MIME(Application, Json));
    }
  }

 private:
  std::function<bool()> ready_;
  std::function<std::string()> metricsText_;
};

}  // namespace

AdminServer::AdminServer(std::function<bool()> ready, std::function<std::string()> metricsText)
    : ready_(std::move(ready)), metricsText_(std::move(metricsText)) {}

AdminServer::~AdminServer() {
  stop();
}

Status AdminServer::start(const std::string& bindAddress, int port) {
  try {
    Address address(bindAddress, Port(static_cast<uint16_t>(port)));
    endpoint_ = std::make_unique<Http::Endpoint>(address);
    endpoint_->init(Http::Endpoint::options().threads(1).flags(Tcp::Options::ReuseAddr));
    endpoint_->setHandler(Http::make_handler<AdminHandler>(ready_, metricsText_));
    endpoint_->serveThreaded();
  } catch (const std::exception& e) {
    endpoint_.reset();
    return Status::unavailable("cannot serve on " + bindAddress + ":" + std::to_string(port) + ": " +
                               e.what())
        .withReason("BindFailed");
  }
  return okStatus();
}

void AdminServer::stop() {
  if (endpoint_) {
    endpoint_->shutdown();
    endpoint_.reset();
  }
}

}  // namespace mp::op
