#include "filters/telemetry/listener_telemetry.h"

#include <chrono>

namespace podproxy::telemetry {

namespace {

std::string_view headerOr(const http::HeaderMap& headers, std::string_view name) {
  const std::string_view* v = headers.get(name);
  return v != nullptr ? std::string_view(*v) : std::string_view();
}

bool isGrpcContentType(std::string_view content_type) {
  return content_type.starts_with("application/grpc");
}

// The request headers the access log and the series key read, found in one pass over the map
// (names are stored lower-case); the first value of each, like HeaderMap::get.
struct RequestFields {
  std::string_view content_type;
  std::string_view x_forwarded_for;
  std::string_view user_agent;
};

RequestFields requestFields(const http::HeaderMap& headers) {
  RequestFields f;
  bool content_type = false;
  bool xff = false;
  bool user_agent = false;
  for (const auto& e : headers.entries()) {
    const std::string_view name = e.name;
    if (!content_type && name == "content-type") {
      f.content_type = e.value;
      content_type = true;
    } else if (!xff && name == "x-forwarded-for") {
      f.x_forwarded_for = e.value;
      xff = true;
    } else if (!user_agent && name == "user-agent") {
      f.user_agent = e.value;
      user_agent = true;
    }
  }
  return f;
}

}  // namespace

std::vector<access_log::AccessLogField> accessLogFields(const config::AccessLogConfig& config) {
  std::vector<access_log::AccessLogField> fields;
  for (const std::string& name : config.fields) {
    if (auto field = access_log::accessLogFieldByName(name)) fields.push_back(*field);
  }
  return fields;
}

ListenerTelemetry::ListenerTelemetry(event::Dispatcher& dispatcher,
                                     const config::Listener& listener, const ClusterIndex& clusters,
                                     stats::IstioShard& shard, access_log::AccessLogRing* ring)
    : dispatcher_(dispatcher),
      listener_(listener),
      clusters_(clusters),
      shard_(shard),
      ring_(listener.access_log.enabled ? ring : nullptr),
      formatter_(accessLogFields(listener.access_log)) {}

int64_t ListenerTelemetry::unixMs(uint64_t loop_ms) const {
  using namespace std::chrono;
  const int64_t now_unix =
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return now_unix - static_cast<int64_t>(dispatcher_.nowMs() - loop_ms);
}

uint16_t ListenerTelemetry::clusterId(std::string_view name) {
  if (name != last_cluster_) {
    last_cluster_.assign(name);
    last_cluster_id_ = clusters_.id(name);
  }
  return last_cluster_id_;
}

void ListenerTelemetry::pushLine() {
  ring_->tryPush(line_);
  line_.clear();
}

uint32_t ListenerTelemetry::identity(std::string_view downstream_peer,
                                     std::string_view downstream_local, bool downstream_mtls,
                                     std::string_view upstream_peer,
                                     std::string_view upstream_local, bool upstream_mtls) {
  if (listener_.direction == config::TrafficDirection::kInbound) {
    if (!downstream_mtls) return 0;
    return shard_.identity(downstream_peer, downstream_local, true);
  }
  if (!upstream_mtls) return 0;
  return shard_.identity(upstream_local, upstream_peer, true);
}

void ListenerTelemetry::onStreamComplete(const http::StreamInfo& info,
                                         const http::RequestHeaders* request,
                                         const http::ResponseHeaders* response,
                                         const http::TrailerMap* response_trailers) {
  const uint64_t now = dispatcher_.nowMs();
  const uint64_t duration = now >= info.start_time_ms ? now - info.start_time_ms : 0;

  stats::HttpSeriesKey key;
  key.response_flags = stats::responseFlagBits(info.response_flags);
  key.response_code = info.response_code;
  key.cluster = clusterId(info.upstream_cluster);
  key.identity =
      identity(info.downstream_peer_uri_san, info.downstream_local_uri_san, info.downstream_mtls,
               info.upstream_peer_uri_san, info.upstream_local_uri_san, info.upstream_mtls);
  RequestFields fields;
  if (request != nullptr) {
    if (ring_ != nullptr) {
      fields = requestFields(request->headers);
    } else {
      fields.content_type = headerOr(request->headers, "content-type");
    }
  }
  if (isGrpcContentType(fields.content_type)) {
    key.protocol = stats::RequestProtocol::kGrpc;
    std::string_view status;
    if (response_trailers != nullptr) status = headerOr(*response_trailers, "grpc-status");
    if (status.empty() && response != nullptr) status = headerOr(response->headers, "grpc-status");
    key.grpc_status = stats::grpcStatusKey(status);
  }
  stats::HttpSeries& series = shard_.httpSeries(key);
  ++series.requests;
  series.duration_ms.observe(static_cast<double>(duration));
  series.request_bytes.observe(static_cast<double>(info.bytes_received));
  series.response_bytes.observe(static_cast<double>(info.bytes_sent));

  if (ring_ == nullptr) return;
  access_log::AccessLogRecord r;
  r.start_time_unix_ms = unixMs(info.start_time_ms);
  if (request != nullptr) {
    r.method = request->method;
    r.path = info.original_path.empty() ? std::string_view(request->path)
                                        : std::string_view(info.original_path);
    r.authority = request->authority;
    r.x_forwarded_for = fields.x_forwarded_for;
    r.user_agent = fields.user_agent;
  }
  r.protocol = info.protocol;
  r.response_code = info.response_code;
  r.response_flags = info.response_flags.empty() ? std::string_view("-") : info.response_flags;
  r.response_code_details = info.details;
  r.bytes_received = info.bytes_received;
  r.bytes_sent = info.bytes_sent;
  r.duration_ms = duration;
  r.upstream_service_time_ms = info.upstream_service_time_ms;
  r.request_id = info.request_id;
  r.upstream_host = info.upstream_host;
  r.upstream_cluster = info.upstream_cluster;
  r.route_name = info.route_name;
  r.downstream_remote_address = info.downstream_remote_address;
  r.downstream_peer_uri_san = info.downstream_peer_uri_san;
  r.trace_id = info.trace_id;
  r.span_id = info.span_id;
  r.parent_span_id = info.parent_span_id;
  r.listener_name = listener_.name;
  formatter_.format(r, line_);
  pushLine();
}

uint32_t ListenerTelemetry::tcpIdentity(const filters::TcpSessionInfo& info) {
  return identity(info.downstream_peer_uri_san, info.downstream_local_uri_san, info.downstream_mtls,
                  info.upstream_peer_uri_san, info.upstream_local_uri_san, info.upstream_mtls);
}

stats::TcpByteCounters* ListenerTelemetry::onTcpSessionStart(const filters::TcpSessionInfo& info) {
  stats::TcpSeries& series =
      shard_.tcpSeries(stats::TcpSeriesKey{0, clusters_.id(info.cluster), tcpIdentity(info)});
  ++series.opened;
  // Bytes that flowed before the session was counted as opened (while connecting).
  series.bytes.received += info.bytes_received;
  series.bytes.sent += info.bytes_sent;
  return &series.bytes;
}

void ListenerTelemetry::onTcpSessionEnd(const filters::TcpSessionInfo& info) {
  const uint32_t flags = stats::responseFlagBits(info.response_flags);
  ++shard_.tcpSeries(stats::TcpSeriesKey{flags, clusters_.id(info.cluster), tcpIdentity(info)})
        .closed;

  if (ring_ == nullptr) return;
  const uint64_t now = dispatcher_.nowMs();
  access_log::AccessLogRecord r;
  r.start_time_unix_ms = unixMs(info.start_time_ms);
  r.protocol = "tcp";
  r.has_response_code = false;
  r.response_flags = info.response_flags.empty() ? std::string_view("-") : info.response_flags;
  r.bytes_received = info.bytes_received;
  r.bytes_sent = info.bytes_sent;
  r.duration_ms = now >= info.start_time_ms ? now - info.start_time_ms : 0;
  r.upstream_host = info.upstream_host;
  r.upstream_cluster = info.cluster;
  // Once per TCP session: formatted here, into a buffer the lines reuse.
  remote_address_.clear();
  if (info.downstream_remote_address.valid()) {
    info.downstream_remote_address.appendTo(remote_address_);
  }
  r.downstream_remote_address = remote_address_;
  r.downstream_peer_uri_san = info.downstream_peer_uri_san;
  r.listener_name = listener_.name;
  formatter_.format(r, line_);
  pushLine();
}

}  // namespace podproxy::telemetry
