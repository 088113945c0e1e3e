#include "proxy/admin/admin_filter.h"

#include "proxy/network/connection.h"

namespace podproxy::admin {

http::FilterHeadersStatus AdminFilter::decodeHeaders(http::RequestHeaders& headers,
                                                     bool end_stream) {
  method_ = headers.method;
  path_ = headers.path.substr(0, headers.path.find('?'));
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

void AdminFilter::handle() {
  const bool read_only = method_ == "GET" || method_ == "HEAD";
  if (path_ == "/ready") {
    if (!read_only) return reply(405, "text/plain", "method not allowed\n");
    const bool ready = handler_.ready();
    return reply(ready ? 200 : 503, "text/plain", ready ? "LIVE\n" : "NOT READY\n");
  }
  if (path_ == "/healthz") {
    if (!read_only) return reply(405, "text/plain", "method not allowed\n");
    return reply(200, "text/plain", "OK\n");
  }
  if (path_ == "/config_dump") {
    if (!read_only) return reply(405, "text/plain", "method not allowed\n");
    return reply(200, "application/json", handler_.configDumpJson());
  }
  if (path_ == "/stats") {
    if (!read_only) return reply(405, "text/plain", "method not allowed\n");
    return reply(200, "text/plain", handler_.statsText());
  }
  if (path_ == "/quitquitquit") {
    if (method_ != "POST") return reply(405, "text/plain", "use POST\n");
    // The admin port may be bound beyond loopback; shutting down stays a local privilege.
    if (!callbacks_->connection().remoteAddress().isLoopback()) {
      return reply(403, "text/plain", "forbidden: loopback only\n");
    }
    reply(200, "text/plain", "OK\n");
    handler_.requestShutdown();
    return;
  }
  if (path_ == "/") {
    return reply(200, "text/plain",
                 "podproxy admin\n  /ready\n  /healthz\n  /config_dump\n  /stats\n"
                 "  /quitquitquit (POST)\n");
  }
  reply(404, "text/plain", "not found\n");
}

void AdminFilterFactory::createFilterChain(http::FilterChainFactoryCallbacks& callbacks) {
  callbacks.addDecoderFilter(std::make_unique<AdminFilter>(handler_));
}

}  // namespace podproxy::admin
