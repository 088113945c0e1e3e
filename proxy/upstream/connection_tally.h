#pragma once

// Counts an upstream connection made outside the pools (a tcp_proxy session's, a terminated
// CONNECT's) in its cluster's upstream_cx_* stats on this worker, as a pool counts its own, so
// those stats cover every connection the cluster opened (Envoy counts tcp_proxy's there too).

#include <string_view>

#include "proxy/network/connection.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/conn_pool.h"

namespace podproxy::upstream {

class ConnectionTally {
 public:
  ConnectionTally() = default;
  ConnectionTally(const ConnectionTally&) = delete;
  ConnectionTally& operator=(const ConnectionTally&) = delete;
  ~ConnectionTally() { closed(ClientCloseReason::kLocalClose); }

  // A connection opened now. `stats` (its worker's cluster's) outlives the connection.
  void opened(PoolStats& stats) {
    stats_ = &stats;
    ++stats.cx_total;
    ++stats.cx_active;
  }
  // How it ended; only the first call after opened() counts.
  void closed(ClientCloseReason reason) {
    if (stats_ == nullptr) return;
    --stats_->cx_active;
    recordConnectionClose(*stats_, reason);
    stats_ = nullptr;
  }
  void connectFailed(std::string_view reason) {
    closed(reason == "connect_timeout" ? ClientCloseReason::kConnectTimeout
                                       : ClientCloseReason::kConnectFailure);
  }
  void closedBy(network::ConnectionEvent event) {
    closed(event == network::ConnectionEvent::kRemoteClose ? ClientCloseReason::kRemoteClose
                                                           : ClientCloseReason::kLocalClose);
  }

 private:
  PoolStats* stats_ = nullptr;
};

}  // namespace podproxy::upstream
