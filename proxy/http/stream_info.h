#pragma once

// What happened to one request: filled in by the connection manager and filters, read by
// access logs and metrics when the stream ends.

#include <cstdint>
#include <cstring>
#include <ostream>
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

// A string that keeps up to N characters inline: the ids every request gets (request id, trace
// and span ids) are longer than std::string's 15-character small buffer, and each would cost an
// allocation. Longer values (a client's own x-request-id, say) still fit, on the heap.
template <size_t N>
class InlineString {
 public:
  InlineString() = default;
  InlineString(std::string_view s) { assign(s); }  // NOLINT: a string in all but storage
  InlineString(const InlineString& other) { assign(other.view()); }
  InlineString& operator=(const InlineString& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  InlineString& operator=(std::string_view s) {
    assign(s);
    return *this;
  }

  void assign(std::string_view s) {
    if (s.size() <= N) {
      if (!s.empty()) std::memmove(inline_, s.data(), s.size());  // data() may be null if empty
      size_ = static_cast<uint8_t>(s.size());
      heap_.clear();
      on_heap_ = false;
    } else {
      heap_.assign(s);
      on_heap_ = true;
    }
  }
  void clear() { assign({}); }
  // Writable room for exactly `n` characters (the value becomes those n), for formatting in
  // place.
  char* resize(size_t n) {
    if (n <= N) {
      size_ = static_cast<uint8_t>(n);
      on_heap_ = false;
      return inline_;
    }
    heap_.resize(n);
    on_heap_ = true;
    return heap_.data();
  }

  std::string_view view() const {
    return on_heap_ ? std::string_view(heap_) : std::string_view(inline_, size_);
  }
  operator std::string_view() const { return view(); }  // NOLINT
  std::string str() const { return std::string(view()); }
  size_t size() const { return view().size(); }
  bool empty() const { return size() == 0; }

  friend bool operator==(const InlineString& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const InlineString& a, const InlineString& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const InlineString& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const InlineString& a, const char* b) { return a.view() == b; }
  friend std::ostream& operator<<(std::ostream& os, const InlineString& s) {
    return os << s.view();
  }

 private:
  static_assert(N < 256);
  char inline_[N];
  uint8_t size_ = 0;
  bool on_heap_ = false;
  std::string heap_;
};

struct StreamInfo {
  uint64_t start_time_ms = 0;  // loop time at the first byte of the request
  std::string_view protocol;   // "HTTP/1.1" (a literal)
  // Names from the route table, which outlives every stream routed by it (the router keeps a
  // reference to it for the whole stream too).
  std::string_view route_name;
  std::string_view upstream_cluster;
  std::string upstream_host;
  InlineString<36> request_id;  // a UUID fits
  std::string response_flags;   // comma-separated flags from response_flags::
  std::string details;          // why a local reply or reset happened
  uint16_t response_code = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint32_t upstream_attempts = 0;
  // The client's address as text ("10.0.0.1:5678"), formatted once per connection and owned
  // by it (empty: unknown).
  std::string_view downstream_remote_address;
  std::string downstream_peer_uri_san;  // the client's verified SPIFFE ID (mTLS), else empty
  // Identities for Istio's principal labels: ours towards an mTLS client; the upstream's
  // verified SPIFFE ID and ours on an mTLS (mutual cluster) upstream connection.
  std::string downstream_local_uri_san;
  bool downstream_mtls = false;
  std::string upstream_peer_uri_san;
  std::string upstream_local_uri_san;
  bool upstream_mtls = false;
  // Telemetry: set by the tracing filter and the router, read by access logs.
  InlineString<32> trace_id;        // W3C trace id (32 hex) of the request's trace
  InlineString<16> span_id;         // the span podproxy created for this hop (16 hex)
  InlineString<16> parent_span_id;  // the caller's span, when the request continued a trace
  std::string original_path;        // the path before a route's prefix_rewrite (empty: unchanged)
  int64_t upstream_service_time_ms = -1;  // upstream request sent -> response headers; -1: none

  void addResponseFlag(std::string_view flag) {
    if (!response_flags.empty()) response_flags += ',';
    response_flags += flag;
  }
};

}  // namespace podproxy::http
