#pragma once

// Told about every tcp_proxy session as it starts and ends: the hook for istio_tcp_* metrics and
// the TCP access log line. Runs on the session's worker.

#include <cstdint>
#include <string_view>

#include "proxy/network/address.h"
#include "proxy/stats/istio_stats.h"

namespace podproxy::filters {

struct TcpSessionInfo {
  uint64_t start_time_ms = 0;       // loop time when the downstream connection was accepted
  std::string_view cluster;         // empty when none was found
  std::string_view upstream_host;   // "ip:port", empty when none was chosen
  std::string_view response_flags;  // Envoy's flags (UH, UO, UF...), comma-separated
  network::Address downstream_remote_address;
  std::string_view downstream_peer_uri_san;  // the client's verified SPIFFE ID (mTLS)
  // Identities for Istio's principal labels: ours towards an mTLS client; the upstream's
  // verified SPIFFE ID and ours on an mTLS (mutual) upstream connection.
  std::string_view downstream_local_uri_san;
  bool downstream_mtls = false;
  std::string_view upstream_peer_uri_san;
  std::string_view upstream_local_uri_san;
  bool upstream_mtls = false;
  uint64_t bytes_received = 0;  // from downstream
  uint64_t bytes_sent = 0;      // to downstream
};

class TcpSessionObserver {
 public:
  virtual ~TcpSessionObserver() = default;
  // A session towards `info.cluster` is counted as opened: once the upstream connected (its
  // identity is known then), or at its end when it never did. `info` carries the identities and
  // the bytes so far. The returned counters (never null) stay valid while the worker runs: the
  // session adds its further bytes to them as they flow.
  virtual stats::TcpByteCounters* onTcpSessionStart(const TcpSessionInfo& info) = 0;
  // Exactly once per started session.
  virtual void onTcpSessionEnd(const TcpSessionInfo& info) = 0;
};

}  // namespace podproxy::filters
