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
  uint64_t bytes_received = 0;               // from downstream
  uint64_t bytes_sent = 0;                   // to downstream
};

class TcpSessionObserver {
 public:
  virtual ~TcpSessionObserver() = default;
  // A session began towards `cluster`. The returned counters (never null) stay valid while the
  // worker runs: the session adds its bytes to them as they flow.
  virtual stats::TcpByteCounters* onTcpSessionStart(std::string_view cluster) = 0;
  // Exactly once per started session.
  virtual void onTcpSessionEnd(const TcpSessionInfo& info) = 0;
};

}  // namespace podproxy::filters
