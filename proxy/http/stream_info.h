#pragma once

// What happened to one request: filled in by the connection manager and filters, read by
// access logs and metrics when the stream ends.

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/network/address.h"

namespace podproxy::http {

// Envoy's response flags, the ones podproxy can set (names as in Envoy's access logs).
namespace response_flags {
inline constexpr std::string_view kNoRouteFound = "NR";
inline constexpr std::string_view kNoClusterFound = "NC";
inline constexpr std::string_view kNoHealthyUpstream = "UH";
inline constexpr std::string_view kUpstreamConnectionFailure = "UF";
inline constexpr std::string_view kUpstreamOverflow = "UO";
inline constexpr std::string_view kUpstreamRequestTimeout = "UT";
inline constexpr std::string_view kUpstreamRemoteReset = "UR";
inline constexpr std::string_view kUpstreamProtocolError = "UPE";
inline constexpr std::string_view kDownstreamConnectionTermination = "DC";
inline constexpr std::string_view kDownstreamProtocolError = "DPE";
inline constexpr std::string_view kStreamIdleTimeout = "SI";
inline constexpr std::string_view kDrain = "DR";
}  // namespace response_flags

struct StreamInfo {
  uint64_t start_time_ms = 0;  // loop time at the first byte of the request
  std::string protocol;        // "HTTP/1.1"
  std::string route_name;
  std::string upstream_cluster;
  std::string upstream_host;
  std::string request_id;
  std::string response_flags;  // comma-separated flags from response_flags::
  std::string details;         // why a local reply or reset happened
  uint16_t response_code = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint32_t upstream_attempts = 0;
  network::Address downstream_remote_address;
  std::string downstream_peer_uri_san;  // the client's verified SPIFFE ID (mTLS), else empty
  // Identities for Istio's principal labels: ours towards an mTLS client; the upstream's
  // verified SPIFFE ID and ours on an mTLS (mutual cluster) upstream connection.
  std::string downstream_local_uri_san;
  bool downstream_mtls = false;
  std::string upstream_peer_uri_san;
  std::string upstream_local_uri_san;
  bool upstream_mtls = false;
  // Telemetry: set by the tracing filter and the router, read by access logs.
  std::string trace_id;        // W3C trace id (32 hex) of the request's trace
  std::string span_id;         // the span podproxy created for this hop (16 hex)
  std::string parent_span_id;  // the caller's span, when the request continued a trace
  std::string original_path;   // the path before a route's prefix_rewrite (empty: unchanged)
  int64_t upstream_service_time_ms = -1;  // upstream request sent -> response headers; -1: none

  void addResponseFlag(std::string_view flag) {
    if (!response_flags.empty()) response_flags += ',';
    response_flags += flag;
  }
};

}  // namespace podproxy::http
