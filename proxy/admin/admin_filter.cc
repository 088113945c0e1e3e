#include "proxy/admin/admin_filter.h"

#include <algorithm>

#include "proxy/common/logger.h"
#include "proxy/network/connection.h"

namespace podproxy::admin {

namespace {

constexpr std::string_view kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

constexpr std::string_view kIndex =
    "podproxy admin\n"
    "  GET  /ready                 200 LIVE when serving, else 503\n"
    "  GET  /healthz               200 while the process runs\n"
    "  GET  /healthz/ready         Istio's readiness probe (as on health_address)\n"
    "  GET  /config_dump           the effective configuration (JSON)\n"
    "  GET  /stats                 counters, plain text\n"
    "  GET  /stats/prometheus      Prometheus exposition (Istio metrics and podproxy's own)\n"
    "  GET  /clusters              hosts, health and active requests (?format=json)\n"
    "  GET  /listeners             listeners and bound addresses (?format=json)\n"
    "  POST /logging?level=L       change the log level (trace..off); GET shows it\n"
    "  POST /drain_listeners       stop accepting and drain connections, keep running\n"
    "  POST /quitquitquit          graceful drain and exit\n";

}  // namespace

http::FilterHeadersStatus AdminFilter::decodeHeaders(http::RequestHeaders& headers,
                                                     bool end_stream) {
  method_ = headers.method;
  const size_t q = headers.path.find('?');
  path_ = headers.path.substr(0, q);
  query_ = q == std::string::npos ? std::string() : headers.path.substr(q + 1);
  // Answer once the whole request is in, so a body never lingers unread on keep-alive.
  if (end_stream) handle();
  return http::FilterHeadersStatus::kStopIteration;
}

http::FilterDataStatus AdminFilter::decodeData(buffer::Buffer& data, bool end_stream) {
  data.clear();
  if (end_stream) handle();
  return http::FilterDataStatus::kStopIterationNoBuffer;
}

void AdminFilter::reply(uint16_t status, std::string_view content_type, std::string body) {
  auto headers = std::make_unique<http::ResponseHeaders>();
  headers->status = status;
  headers->headers.add("content-type", content_type);
  headers->headers.add("content-length", std::to_string(body.size()));
  headers->headers.add("cache-control", "no-cache, max-age=0");
  const bool head = method_ == "HEAD";
  callbacks_->encodeHeaders(std::move(headers), body.empty() || head);
  if (!body.empty() && !head) {
    buffer::Buffer data;
    data.add(body);
    callbacks_->encodeData(data, true);
  }
}

AdminCallback AdminFilter::later() {
  return [this, alive = alive_](AdminResponse response) {
    if (!*alive) return;  // the client left while the workers were asked
    reply(response.status, response.content_type, std::move(response.body));
  };
}

bool AdminFilter::localPeer() const {
  return callbacks_->connection().remoteAddress().isLoopback();
}

std::string AdminFilter::queryParam(std::string_view name) const {
  std::string_view rest = query_;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1));
    }
  }
  return {};
}

void AdminFilter::replyReadiness() {
  const bool ready = handler_.ready();
  reply(ready ? 200 : 503, "text/plain", ready ? "" : "not ready\n");
}

void AdminFilter::handle() {
  const bool read_only = method_ == "GET" || method_ == "HEAD";
  switch (mode_) {
    case AdminMode::kStats:
      if (path_ != "/stats/prometheus") return reply(404, "text/plain", "not found\n");
      if (!read_only) return reply(405, "text/plain", "method not allowed\n");
      return handler_.statsPrometheus(later());
    case AdminMode::kHealth:
      if (path_ != "/healthz/ready") return reply(404, "text/plain", "not found\n");
      if (!read_only) return reply(405, "text/plain", "method not allowed\n");
      return replyReadiness();
    case AdminMode::kAdmin:
      return handleAdmin();
  }
}

void AdminFilter::handleAdmin() {
  static constexpr std::string_view kReadPaths[] = {"/",
                                                    "/ready",
                                                    "/healthz",
                                                    "/healthz/ready",
                                                    "/config_dump",
                                                    "/stats",
                                                    "/stats/prometheus",
                                                    "/clusters",
                                                    "/listeners"};
  static constexpr std::string_view kActionPaths[] = {"/drain_listeners", "/quitquitquit"};
  const bool read_only = method_ == "GET" || method_ == "HEAD";
  const auto listed = [this](const auto& paths) {
    return std::find(std::begin(paths), std::end(paths), path_) != std::end(paths);
  };
  // Reading is GET/HEAD. Acting (and changing /logging) changes the process: POST, as Envoy
  // asks, and only from loopback, since the admin port may be bound beyond it.
  if (listed(kReadPaths) && !read_only) return reply(405, "text/plain", "method not allowed\n");
  if (listed(kActionPaths) || (path_ == "/logging" && !read_only)) {
    if (method_ != "POST") return reply(405, "text/plain", "use POST\n");
    if (!localPeer()) return reply(403, "text/plain", "forbidden: loopback only\n");
  }
  const bool json = queryParam("format") == "json";
  if (path_ == "/ready") {
    const bool ready = handler_.ready();
    return reply(ready ? 200 : 503, "text/plain", ready ? "LIVE\n" : "NOT READY\n");
  }
  if (path_ == "/healthz") return reply(200, "text/plain", "OK\n");
  if (path_ == "/healthz/ready") return replyReadiness();
  if (path_ == "/config_dump") {
    return reply(200, "application/json", handler_.configDumpJson());
  }
  if (path_ == "/stats") {
    if (queryParam("format") == "prometheus") return handler_.statsPrometheus(later());
    return handler_.statsText(later());
  }
  if (path_ == "/stats/prometheus") return handler_.statsPrometheus(later());
  if (path_ == "/clusters") return handler_.clusters(json, later());
  if (path_ == "/listeners") {
    return reply(200, json ? "application/json" : "text/plain", handler_.listeners(json));
  }
  if (path_ == "/logging") {
    if (read_only) {
      return reply(200, "text/plain",
                   "level: " + std::string(logLevelName(Logger::level())) + "\n");
    }
    const std::string name = queryParam("level");
    const auto level = parseLogLevel(name);
    if (!level) {
      return reply(400, "text/plain",
                   "usage: POST /logging?level=trace|debug|info|warn|error|off\n");
    }
    Logger::setLevel(*level);
    LOG_INFO("log level changed", {"level", logLevelName(*level)});
    return reply(200, "text/plain", "level: " + std::string(logLevelName(*level)) + "\n");
  }
  if (path_ == "/drain_listeners") {
    handler_.drainListeners();
    return reply(200, "text/plain", "OK\n");
  }
  if (path_ == "/quitquitquit") {
    reply(200, "text/plain", "OK\n");
    handler_.requestShutdown();
    return;
  }
  if (path_ == "/") return reply(200, "text/plain", std::string(kIndex));
  reply(404, "text/plain", "not found\n");
}

void AdminFilterFactory::createFilterChain(http::FilterChainFactoryCallbacks& callbacks) {
  callbacks.addDecoderFilter(std::make_unique<AdminFilter>(handler_, mode_));
}

}  // namespace podproxy::admin
