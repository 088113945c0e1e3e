#pragma once

// The access-log fields, declared once: the enum, the JSON key (Envoy's default names), and the
// order of the default line. The config loader validates listener access_log.fields against it.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace podproxy::access_log {

#define PODPROXY_ACCESS_LOG_FIELDS(X)                      \
  X(kStartTime, "start_time")                              \
  X(kMethod, "method")                                     \
  X(kPath, "path")                                         \
  X(kProtocol, "protocol")                                 \
  X(kResponseCode, "response_code")                        \
  X(kResponseFlags, "response_flags")                      \
  X(kResponseCodeDetails, "response_code_details")         \
  X(kBytesReceived, "bytes_received")                      \
  X(kBytesSent, "bytes_sent")                              \
  X(kDuration, "duration")                                 \
  X(kUpstreamServiceTime, "upstream_service_time")         \
  X(kXForwardedFor, "x_forwarded_for")                     \
  X(kUserAgent, "user_agent")                              \
  X(kRequestId, "request_id")                              \
  X(kAuthority, "authority")                               \
  X(kUpstreamHost, "upstream_host")                        \
  X(kUpstreamCluster, "upstream_cluster")                  \
  X(kRouteName, "route_name")                              \
  X(kDownstreamRemoteAddress, "downstream_remote_address") \
  X(kTraceId, "trace_id")                                  \
  X(kSpanId, "span_id")                                    \
  X(kParentSpanId, "parent_span_id")                       \
  X(kDownstreamPeerUriSan, "downstream_peer_uri_san")      \
  X(kListenerName, "listener_name")

enum class AccessLogField : uint8_t {
#define PODPROXY_ACCESS_LOG_ENUM(id, name) id,
  PODPROXY_ACCESS_LOG_FIELDS(PODPROXY_ACCESS_LOG_ENUM)
#undef PODPROXY_ACCESS_LOG_ENUM
};

inline constexpr std::array kAccessLogFieldNames = {
#define PODPROXY_ACCESS_LOG_NAME(id, name) std::string_view(name),
    PODPROXY_ACCESS_LOG_FIELDS(PODPROXY_ACCESS_LOG_NAME)
#undef PODPROXY_ACCESS_LOG_NAME
};

inline constexpr std::string_view accessLogFieldName(AccessLogField field) {
  return kAccessLogFieldNames[static_cast<size_t>(field)];
}

inline constexpr std::optional<AccessLogField> accessLogFieldByName(std::string_view name) {
  for (size_t i = 0; i < kAccessLogFieldNames.size(); ++i) {
    if (kAccessLogFieldNames[i] == name) return static_cast<AccessLogField>(i);
  }
  return std::nullopt;
}

}  // namespace podproxy::access_log
