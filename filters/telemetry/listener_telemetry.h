#pragma once

// One listener's telemetry on one worker: at the end of every HTTP stream or TCP session it
// counts the Istio series (a map lookup on compact keys) and, when the listener logs, formats
// one JSON access-log line into the worker's ring. Worker-local: no locks, no atomic RMW.

#include <string>
#include <vector>

#include "config/model.h"
#include "filters/network/tcp_session_observer.h"
#include "filters/telemetry/cluster_index.h"
#include "proxy/access_log/access_log_formatter.h"
#include "proxy/access_log/access_log_ring.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/stream_observer.h"
#include "proxy/stats/istio_stats.h"

namespace podproxy::telemetry {

// The configured field names, resolved (unknown names were refused by the loader).
std::vector<access_log::AccessLogField> accessLogFields(const config::AccessLogConfig& config);

class ListenerTelemetry final : public http::StreamObserver, public filters::TcpSessionObserver {
 public:
  // `ring` null: no access log for this listener. Everything must outlive this object.
  ListenerTelemetry(event::Dispatcher& dispatcher, const config::Listener& listener,
                    const ClusterIndex& clusters, stats::IstioShard& shard,
                    access_log::AccessLogRing* ring);

  // http::StreamObserver
  void onStreamComplete(const http::StreamInfo& info, const http::RequestHeaders* request,
                        const http::ResponseHeaders* response,
                        const http::TrailerMap* response_trailers) override;

  // filters::TcpSessionObserver
  stats::TcpByteCounters* onTcpSessionStart(const filters::TcpSessionInfo& info) override;
  void onTcpSessionEnd(const filters::TcpSessionInfo& info) override;

 private:
  // Wall-clock milliseconds of a loop timestamp.
  int64_t unixMs(uint64_t loop_ms) const;
  void pushLine();
  // Istio's principals and security policy as a series identity: inbound, the downstream's
  // verified ID and ours; outbound, ours and the upstream's (mTLS only; else none).
  uint32_t identity(std::string_view downstream_peer, std::string_view downstream_local,
                    bool downstream_mtls, std::string_view upstream_peer,
                    std::string_view upstream_local, bool upstream_mtls);
  uint32_t tcpIdentity(const filters::TcpSessionInfo& info);

  event::Dispatcher& dispatcher_;
  const config::Listener& listener_;
  const ClusterIndex& clusters_;
  stats::IstioShard& shard_;
  access_log::AccessLogRing* ring_;
  access_log::AccessLogFormatter formatter_;
  // The cluster's series id (ClusterIndex::id), looked up again only when the name changes:
  // a listener's requests mostly go to the same cluster.
  uint16_t clusterId(std::string_view name);

  std::string line_;            // reused for every line
  std::string remote_address_;  // a TCP session's downstream address, formatted (reused)
  std::string last_cluster_;
  uint16_t last_cluster_id_ = stats::kNoCluster;
};

}  // namespace podproxy::telemetry
