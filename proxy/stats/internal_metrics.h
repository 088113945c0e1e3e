#pragma once

// podproxy's own metrics, declared once: every family's name, type and help text, and which
// shard counter feeds which series. The Prometheus exposition and the plain /stats page are both
// generated from these tables, so names, help and export never drift.

#include <cstdint>
#include <string_view>

#include "proxy/stats/worker_stats.h"

namespace podproxy::stats {

enum class MetricType { kCounter, kGauge, kHistogram };

#define PODPROXY_INTERNAL_METRIC_FAMILIES(X)                                                       \
  X(kDownstreamCxTotal, kCounter, "podproxy_downstream_cx_total",                                  \
    "Downstream connections accepted by an HTTP listener.")                                        \
  X(kDownstreamCxActive, kGauge, "podproxy_downstream_cx_active",                                  \
    "Downstream connections open now (every listener).")                                           \
  X(kDownstreamCxDestroyed, kCounter, "podproxy_downstream_cx_destroyed_total",                    \
    "Downstream connections podproxy closed, by reason.")                                          \
  X(kDownstreamCxHibernated, kCounter, "podproxy_downstream_cx_hibernated_total",                  \
    "Times an idle HTTP/1 downstream connection hibernated (was kept as a compact record).")       \
  X(kDownstreamCxHibernatedActive, kGauge, "podproxy_downstream_cx_hibernated",                    \
    "Downstream connections hibernated now (they count as active too).")                           \
  X(kDownstreamCxOverflow, kCounter, "podproxy_downstream_cx_overflow_total",                      \
    "Connections closed at accept because the listener reached max_connections.")                  \
  X(kDownstreamRqTotal, kCounter, "podproxy_downstream_rq_total", "Downstream requests received.") \
  X(kDownstreamRqActive, kGauge, "podproxy_downstream_rq_active",                                  \
    "Downstream requests in flight.")                                                              \
  X(kDownstreamRqCompleted, kCounter, "podproxy_downstream_rq_completed_total",                    \
    "Downstream responses, by status class.")                                                      \
  X(kDownstreamRqReset, kCounter, "podproxy_downstream_rq_reset_total",                            \
    "Downstream requests that ended in a reset, by the side that reset.")                          \
  X(kDownstreamRqTimeout, kCounter, "podproxy_downstream_rq_timeout_total",                        \
    "Downstream requests that timed out before their headers were complete.")                      \
  X(kLocalReplies, kCounter, "podproxy_local_replies_total",                                       \
    "Requests answered or ended by podproxy itself, by reason (Envoy's response flags).")          \
  X(kRouterResponses, kCounter, "podproxy_router_responses_total",                                 \
    "Requests the router answered from the route itself, by kind.")                                \
  X(kUpstreamRqAttempts, kCounter, "podproxy_upstream_rq_attempts_total",                          \
    "Upstream request attempts made by the router (retries included).")                            \
  X(kUpstreamRqRetry, kCounter, "podproxy_upstream_rq_retry_total",                                \
    "Requests retried on a fresh connection after a keep-alive race.")                             \
  X(kUpstreamRqTimeout, kCounter, "podproxy_upstream_rq_timeout_total",                            \
    "Requests that hit a route timeout, by timeout.")                                              \
  X(kUpstreamCxTotal, kCounter, "podproxy_upstream_cx_total", "Upstream connections opened.")      \
  X(kUpstreamCxActive, kGauge, "podproxy_upstream_cx_active",                                      \
    "Upstream connections open or connecting.")                                                    \
  X(kUpstreamCxConnectFail, kCounter, "podproxy_upstream_cx_connect_fail_total",                   \
    "Upstream connect failures (timeouts included).")                                              \
  X(kUpstreamCxDestroyed, kCounter, "podproxy_upstream_cx_destroyed_total",                        \
    "Upstream connections closed, by reason.")                                                     \
  X(kUpstreamRqTotal, kCounter, "podproxy_upstream_rq_total",                                      \
    "Requests sent on upstream connections.")                                                      \
  X(kUpstreamRqReused, kCounter, "podproxy_upstream_rq_reused_total",                              \
    "Requests sent on a reused keep-alive connection.")                                            \
  X(kUpstreamRqActive, kGauge, "podproxy_upstream_rq_active", "Upstream requests in flight.")      \
  X(kUpstreamRqReset, kCounter, "podproxy_upstream_rq_reset_total",                                \
    "Upstream streams reset under the router.")                                                    \
  X(kUpstreamRqPendingTotal, kCounter, "podproxy_upstream_rq_pending_total",                       \
    "Requests that waited for an upstream connection.")                                            \
  X(kUpstreamRqPendingActive, kGauge, "podproxy_upstream_rq_pending_active",                       \
    "Requests waiting for an upstream connection now.")                                            \
  X(kUpstreamRqPendingFailure, kCounter, "podproxy_upstream_rq_pending_failure_total",             \
    "Waiting requests that failed before getting a connection.")                                   \
  X(kUpstreamOverflow, kCounter, "podproxy_upstream_overflow_total",                               \
    "Requests or connections refused by a cluster's circuit breaker, by breaker.")                 \
  X(kUpstreamHosts, kGauge, "podproxy_upstream_hosts", "Hosts in the cluster.")                    \
  X(kDownstreamHttp2Streams, kCounter, "podproxy_downstream_http2_streams_total",                  \
    "HTTP/2 streams clients opened.")                                                              \
  X(kDownstreamHttp2Resets, kCounter, "podproxy_downstream_http2_resets_total",                    \
    "RST_STREAM frames on HTTP/2 client connections, by who sent them.")                           \
  X(kDownstreamHttp2Goaway, kCounter, "podproxy_downstream_http2_goaway_total",                    \
    "GOAWAY frames on HTTP/2 client connections, by direction.")                                   \
  X(kDownstreamHttp2Errors, kCounter, "podproxy_downstream_http2_errors_total",                    \
    "HTTP/2 client streams reset or connections closed for a limit, a flood, a protocol error "    \
    "or an unanswered keepalive PING, by reason.")                                                 \
  X(kUpstreamHttp2Streams, kCounter, "podproxy_upstream_http2_streams_total",                      \
    "HTTP/2 streams opened to the cluster's hosts.")                                               \
  X(kUpstreamHttp2Resets, kCounter, "podproxy_upstream_http2_resets_total",                        \
    "RST_STREAM frames on HTTP/2 upstream connections, by who sent them.")                         \
  X(kUpstreamHttp2Goaway, kCounter, "podproxy_upstream_http2_goaway_total",                        \
    "GOAWAY frames on HTTP/2 upstream connections, by direction.")                                 \
  X(kUpstreamHttp2Errors, kCounter, "podproxy_upstream_http2_errors_total",                        \
    "HTTP/2 upstream streams reset or connections closed for a limit, a flood, a protocol error "  \
    "or an unanswered keepalive PING, by reason.")                                                 \
  X(kTcpCxTotal, kCounter, "podproxy_tcp_cx_total", "TCP proxy sessions started.")                 \
  X(kTcpCxActive, kGauge, "podproxy_tcp_cx_active", "TCP proxy sessions open.")                    \
  X(kTcpCxFailed, kCounter, "podproxy_tcp_cx_failed_total",                                        \
    "TCP proxy sessions that could not reach an upstream, by reason.")                             \
  X(kTcpCxIdleTimeout, kCounter, "podproxy_tcp_cx_idle_timeout_total",                             \
    "TCP proxy sessions closed by idle_timeout.")                                                  \
  X(kTcpRxBytes, kCounter, "podproxy_tcp_rx_bytes_total",                                          \
    "Bytes the TCP proxy received, by the side that sent them.")                                   \
  X(kProtocolDetection, kCounter, "podproxy_protocol_detection_total",                             \
    "Captured connections by the protocol detection outcome.")                                     \
  X(kAccessLogLines, kCounter, "podproxy_access_log_lines_total",                                  \
    "Access-log lines handed to the writer.")                                                      \
  X(kAccessLogDropped, kCounter, "podproxy_access_log_dropped_total",                              \
    "Access-log lines dropped because stdout was slower than traffic.")                            \
  X(kLogDropped, kCounter, "podproxy_log_dropped_total",                                           \
    "The proxy's own log lines dropped because stdout was slower than they came.")                 \
  X(kConfigLoads, kCounter, "podproxy_config_loads_total", "Configuration loads, by result.")      \
  X(kServerReady, kGauge, "podproxy_server_ready",                                                 \
    "1 when every listener accepts and the proxy is not draining.")                                \
  X(kServerDraining, kGauge, "podproxy_server_draining", "1 while listeners drain.")               \
  X(kServerConcurrency, kGauge, "podproxy_server_concurrency", "Worker threads.")                  \
  X(kServerStartTime, kGauge, "podproxy_server_start_time_seconds",                                \
    "Start time of the process, seconds since the Unix epoch.")                                    \
  X(kWorkerLoopLag, kHistogram, "podproxy_worker_loop_lag_seconds",                                \
    "How late a worker's periodic timer fired: time its event loop was busy or blocked.")

enum class InternalFamily {
#define PODPROXY_FAMILY_ENUM(id, type, name, help) id,
  PODPROXY_INTERNAL_METRIC_FAMILIES(PODPROXY_FAMILY_ENUM)
#undef PODPROXY_FAMILY_ENUM
      kCount
};

struct InternalFamilyDef {
  MetricType type;
  std::string_view name;
  std::string_view help;
};

inline constexpr InternalFamilyDef kInternalFamilies[] = {
#define PODPROXY_FAMILY_DEF(id, type, name, help) {MetricType::type, name, help},
    PODPROXY_INTERNAL_METRIC_FAMILIES(PODPROXY_FAMILY_DEF)
#undef PODPROXY_FAMILY_DEF
};

inline constexpr const InternalFamilyDef& familyDef(InternalFamily f) {
  return kInternalFamilies[static_cast<size_t>(f)];
}

// One shard counter feeding one series: the family, an optional extra label, and the field. The
// stat name is the field's name in the plain /stats page ("<scope>.<name>.<stat>"); "" keeps it
// off that page (the server prints the process-wide value there instead).
template <typename Stats>
struct FieldMetric {
  InternalFamily family;
  std::string_view label;  // "" for none
  std::string_view value;
  std::string_view stat;
  uint64_t Stats::*field;
};

using F = InternalFamily;
using Cm = http::ConnectionManagerStats;
inline constexpr FieldMetric<Cm> kConnectionManagerMetrics[] = {
    {F::kDownstreamCxTotal, "", "", "downstream_cx_total", &Cm::downstream_cx_total},
    {F::kDownstreamCxDestroyed, "reason", "idle_timeout", "downstream_cx_idle_timeout",
     &Cm::downstream_cx_idle_timeout},
    {F::kDownstreamCxDestroyed, "reason", "drain", "downstream_cx_drain_close",
     &Cm::downstream_cx_drain_close},
    {F::kDownstreamCxDestroyed, "reason", "protocol_error", "downstream_cx_protocol_error",
     &Cm::downstream_cx_protocol_error},
    {F::kDownstreamCxHibernated, "", "", "downstream_cx_hibernated", &Cm::downstream_cx_hibernated},
    {F::kDownstreamCxHibernatedActive, "", "", "downstream_cx_hibernated_active",
     &Cm::downstream_cx_hibernated_active},
    {F::kDownstreamRqTotal, "", "", "downstream_rq_total", &Cm::downstream_rq_total},
    {F::kDownstreamRqActive, "", "", "downstream_rq_active", &Cm::downstream_rq_active},
    {F::kDownstreamRqCompleted, "response_code_class", "1xx", "downstream_rq_1xx",
     &Cm::downstream_rq_1xx},
    {F::kDownstreamRqCompleted, "response_code_class", "2xx", "downstream_rq_2xx",
     &Cm::downstream_rq_2xx},
    {F::kDownstreamRqCompleted, "response_code_class", "3xx", "downstream_rq_3xx",
     &Cm::downstream_rq_3xx},
    {F::kDownstreamRqCompleted, "response_code_class", "4xx", "downstream_rq_4xx",
     &Cm::downstream_rq_4xx},
    {F::kDownstreamRqCompleted, "response_code_class", "5xx", "downstream_rq_5xx",
     &Cm::downstream_rq_5xx},
    {F::kDownstreamRqReset, "side", "downstream", "downstream_rq_rx_reset",
     &Cm::downstream_rq_rx_reset},
    {F::kDownstreamRqReset, "side", "local", "downstream_rq_tx_reset", &Cm::downstream_rq_tx_reset},
    {F::kDownstreamRqTimeout, "", "", "downstream_rq_header_timeout",
     &Cm::downstream_rq_header_timeout},
};

// HTTP/2 codec counters: the same fields on both sides, exported as separate families (a
// listener's client connections, a cluster's upstream connections).
using H2 = http::http2::CodecStats;
inline constexpr FieldMetric<H2> kDownstreamHttp2Metrics[] = {
    {F::kDownstreamHttp2Streams, "", "", "http2.streams_total", &H2::streams_total},
    {F::kDownstreamHttp2Resets, "side", "remote", "http2.rx_reset", &H2::rx_reset},
    {F::kDownstreamHttp2Resets, "side", "local", "http2.tx_reset", &H2::tx_reset},
    {F::kDownstreamHttp2Goaway, "direction", "sent", "http2.goaway_sent", &H2::goaway_sent},
    {F::kDownstreamHttp2Goaway, "direction", "received", "http2.goaway_received",
     &H2::goaway_received},
    {F::kDownstreamHttp2Errors, "reason", "header_overflow", "http2.header_overflow",
     &H2::header_overflow},
    {F::kDownstreamHttp2Errors, "reason", "rapid_reset", "http2.rapid_reset", &H2::rapid_reset},
    {F::kDownstreamHttp2Errors, "reason", "control_flood", "http2.control_flood",
     &H2::control_flood},
    {F::kDownstreamHttp2Errors, "reason", "continuation_flood", "http2.continuation_flood",
     &H2::continuation_flood},
    {F::kDownstreamHttp2Errors, "reason", "protocol_error", "http2.protocol_error",
     &H2::protocol_error},
    {F::kDownstreamHttp2Errors, "reason", "keepalive_timeout", "http2.keepalive_timeout",
     &H2::keepalive_timeout},
};
inline constexpr FieldMetric<H2> kUpstreamHttp2Metrics[] = {
    {F::kUpstreamHttp2Streams, "", "", "http2.streams_total", &H2::streams_total},
    {F::kUpstreamHttp2Resets, "side", "remote", "http2.rx_reset", &H2::rx_reset},
    {F::kUpstreamHttp2Resets, "side", "local", "http2.tx_reset", &H2::tx_reset},
    {F::kUpstreamHttp2Goaway, "direction", "sent", "http2.goaway_sent", &H2::goaway_sent},
    {F::kUpstreamHttp2Goaway, "direction", "received", "http2.goaway_received",
     &H2::goaway_received},
    {F::kUpstreamHttp2Errors, "reason", "header_overflow", "http2.header_overflow",
     &H2::header_overflow},
    {F::kUpstreamHttp2Errors, "reason", "rapid_reset", "http2.rapid_reset", &H2::rapid_reset},
    {F::kUpstreamHttp2Errors, "reason", "control_flood", "http2.control_flood", &H2::control_flood},
    {F::kUpstreamHttp2Errors, "reason", "continuation_flood", "http2.continuation_flood",
     &H2::continuation_flood},
    {F::kUpstreamHttp2Errors, "reason", "protocol_error", "http2.protocol_error",
     &H2::protocol_error},
    {F::kUpstreamHttp2Errors, "reason", "keepalive_timeout", "http2.keepalive_timeout",
     &H2::keepalive_timeout},
};

using Rs = router::RouterStats;
inline constexpr FieldMetric<Rs> kRouterMetrics[] = {
    {F::kLocalReplies, "response_flags", "NR", "no_route", &Rs::no_route},
    {F::kLocalReplies, "response_flags", "NC", "no_cluster", &Rs::no_cluster},
    {F::kLocalReplies, "response_flags", "UH", "no_healthy_upstream", &Rs::no_healthy_upstream},
    {F::kLocalReplies, "response_flags", "UF", "upstream_cx_connect_fail",
     &Rs::upstream_cx_connect_fail},
    {F::kLocalReplies, "response_flags", "UO", "upstream_rq_overflow", &Rs::upstream_rq_overflow},
    {F::kLocalReplies, "response_flags", "UT", "upstream_rq_timeout", &Rs::upstream_rq_timeout},
    {F::kLocalReplies, "response_flags", "SI", "stream_idle_timeout", &Rs::stream_idle_timeout},
    {F::kLocalReplies, "response_flags", "UR", "upstream_rq_reset", &Rs::upstream_rq_reset},
    {F::kRouterResponses, "kind", "direct_response", "direct_response", &Rs::direct_response},
    {F::kRouterResponses, "kind", "redirect", "redirect", &Rs::redirect},
    {F::kRouterResponses, "kind", "upgrade_rejected", "upgrade_rejected", &Rs::upgrade_rejected},
    {F::kRouterResponses, "kind", "upgrade_upstream_unsupported", "upgrade_upstream_unsupported",
     &Rs::upgrade_upstream_unsupported},
    {F::kUpstreamRqAttempts, "", "", "upstream_rq_total", &Rs::upstream_rq_total},
    {F::kUpstreamRqRetry, "", "", "upstream_rq_retry", &Rs::upstream_rq_retry},
    {F::kUpstreamRqTimeout, "timeout", "route", "upstream_rq_timeout_route",
     &Rs::upstream_rq_timeout},
    {F::kUpstreamRqTimeout, "timeout", "stream_idle", "upstream_rq_timeout_idle",
     &Rs::stream_idle_timeout},
};

using Tp = filters::TcpProxyStats;
inline constexpr FieldMetric<Tp> kTcpProxyMetrics[] = {
    {F::kTcpCxTotal, "", "", "cx_total", &Tp::cx_total},
    {F::kTcpCxActive, "", "", "cx_active", &Tp::cx_active},
    {F::kTcpCxFailed, "reason", "no_host", "no_cluster", &Tp::no_cluster},
    {F::kTcpCxFailed, "reason", "overflow", "overflow", &Tp::overflow},
    {F::kTcpCxFailed, "reason", "connect_failure", "connect_fail", &Tp::connect_fail},
    {F::kTcpCxIdleTimeout, "", "", "idle_timeout", &Tp::idle_timeout},
    {F::kTcpRxBytes, "side", "downstream", "downstream_rx_bytes", &Tp::downstream_rx_bytes},
    {F::kTcpRxBytes, "side", "upstream", "upstream_rx_bytes", &Tp::upstream_rx_bytes},
};

using Ds = filters::DetectionStats;
inline constexpr FieldMetric<Ds> kDetectionMetrics[] = {
    {F::kProtocolDetection, "outcome", "http1", "http1", &Ds::http1},
    {F::kProtocolDetection, "outcome", "http2", "http2", &Ds::http2},
    {F::kProtocolDetection, "outcome", "tls", "tls", &Ds::tls},
    {F::kProtocolDetection, "outcome", "tcp", "tcp", &Ds::tcp},
    {F::kProtocolDetection, "outcome", "timeout", "timeout", &Ds::timeout},
    {F::kProtocolDetection, "outcome", "declared_tcp", "declared_tcp", &Ds::declared_tcp},
    {F::kProtocolDetection, "outcome", "mtls_plaintext_refused", "mtls_plaintext_refused",
     &Ds::mtls_plaintext_refused},
};

using Ps = upstream::PoolStats;
inline constexpr FieldMetric<Ps> kPoolMetrics[] = {
    {F::kUpstreamCxTotal, "", "", "upstream_cx_total", &Ps::cx_total},
    {F::kUpstreamCxActive, "", "", "", &Ps::cx_active},
    {F::kUpstreamCxConnectFail, "", "", "upstream_cx_connect_fail", &Ps::cx_connect_fail},
    {F::kUpstreamCxDestroyed, "reason", "remote", "upstream_cx_destroy_remote",
     &Ps::cx_destroy_remote},
    {F::kUpstreamCxDestroyed, "reason", "local", "upstream_cx_destroy_local",
     &Ps::cx_destroy_local},
    {F::kUpstreamCxDestroyed, "reason", "idle_timeout", "upstream_cx_idle_timeout",
     &Ps::cx_idle_timeout},
    {F::kUpstreamCxDestroyed, "reason", "max_requests", "upstream_cx_max_requests",
     &Ps::cx_max_requests},
    {F::kUpstreamCxDestroyed, "reason", "protocol_error", "upstream_cx_protocol_error",
     &Ps::cx_protocol_error},
    {F::kUpstreamRqTotal, "", "", "upstream_rq_total", &Ps::rq_total},
    {F::kUpstreamRqReused, "", "", "upstream_rq_reused", &Ps::rq_reused},
    {F::kUpstreamRqActive, "", "", "", &Ps::rq_active},
    {F::kUpstreamRqReset, "", "", "upstream_rq_reset", &Ps::rq_reset},
    {F::kUpstreamRqPendingTotal, "", "", "upstream_rq_pending_total", &Ps::pending_total},
    {F::kUpstreamRqPendingActive, "", "", "", &Ps::pending_active},
    {F::kUpstreamRqPendingFailure, "", "", "upstream_rq_pending_failure", &Ps::pending_failure},
};

}  // namespace podproxy::stats
