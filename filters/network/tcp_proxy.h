#pragma once

// The tcp_proxy network filter: connects each downstream connection to a host of a cluster and
// shuttles bytes both ways (moving buffers, never copying), with half-close, backpressure, an
// idle timeout and byte counters. Installed as the last filter of a downstream connection.

#include <cstdint>
#include <memory>

#include "config/model.h"
#include "filters/network/tcp_session_observer.h"
#include "proxy/event/dispatcher.h"
#include "proxy/network/connection.h"
#include "proxy/upstream/connection_tally.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/thread_local_cluster.h"

namespace podproxy::filters {

// Per-worker counters (plain integers; folded into istio_tcp_* metrics on scrape).
struct TcpProxyStats {
  uint64_t cx_total = 0;
  uint64_t cx_active = 0;
  uint64_t no_cluster = 0;    // unknown cluster or no host in it
  uint64_t overflow = 0;      // max_connections circuit breaker
  uint64_t connect_fail = 0;  // timeouts included
  uint64_t connect_timeout = 0;
  uint64_t idle_timeout = 0;
  uint64_t downstream_rx_bytes = 0;  // received from downstream (sent upstream)
  uint64_t upstream_rx_bytes = 0;    // received from upstream (sent downstream)
};

class TcpProxy : public network::ReadFilter {
 public:
  // `stats` (optional) must outlive the filter: it is the worker's shard.
  // `observer` (optional) is told when the session starts and ends (istio_tcp_*, access log).
  TcpProxy(const config::TcpProxyConfig& config, upstream::ThreadLocalClusterManager& clusters,
           TcpProxyStats* stats = nullptr, TcpSessionObserver* observer = nullptr);
  ~TcpProxy() override;

  // network::ReadFilter
  void initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) override;
  network::FilterStatus onNewConnection() override;
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

  // Bytes this session moved, per direction.
  uint64_t bytesFromDownstream() const { return bytes_from_downstream_; }
  uint64_t bytesFromUpstream() const { return bytes_from_upstream_; }
  const upstream::HostConstSharedPtr& upstreamHost() const { return host_; }
  bool upstreamConnected() const { return upstream_connected_; }

 private:
  // Connection callbacks of one side; each forwards to the proxy with the side it is for.
  class DownstreamCallbacks : public network::ConnectionCallbacks {
   public:
    explicit DownstreamCallbacks(TcpProxy& parent) : parent_(parent) {}
    void onEvent(network::ConnectionEvent event) override;
    void onAboveWriteBufferHighWatermark() override;
    void onBelowWriteBufferLowWatermark() override;

   private:
    TcpProxy& parent_;
  };
  class UpstreamCallbacks : public network::ConnectionCallbacks {
   public:
    explicit UpstreamCallbacks(TcpProxy& parent) : parent_(parent) {}
    void onEvent(network::ConnectionEvent event) override;
    void onAboveWriteBufferHighWatermark() override;
    void onBelowWriteBufferLowWatermark() override;

   private:
    TcpProxy& parent_;
  };
  class UpstreamReadFilter;

  network::Connection& downstream() { return read_callbacks_->connection(); }
  void onUpstreamData(buffer::Buffer& data, bool end_stream);
  void onUpstreamEvent(network::ConnectionEvent event);
  void onDownstreamEvent(network::ConnectionEvent event);
  // Closes `other` after `closed` went away: RST for an error, a flushed close otherwise.
  static void closeOtherSide(network::Connection& closed, network::ConnectionEvent event,
                             network::Connection& other);
  void onActivity() { last_activity_ms_ = dispatcher_->nowMs(); }
  void onIdleTimer();
  void releaseConnectionSlot();
  void finish();
  // The session as telemetry sees it (its strings point into this proxy and its host).
  TcpSessionInfo sessionInfo() const;
  void startSession();

  const config::TcpProxyConfig& config_;
  upstream::ThreadLocalClusterManager& clusters_;
  TcpProxyStats* stats_;
  network::ReadFilterCallbacks* read_callbacks_ = nullptr;
  event::Dispatcher* dispatcher_ = nullptr;

  DownstreamCallbacks downstream_callbacks_{*this};
  UpstreamCallbacks upstream_callbacks_{*this};
  std::unique_ptr<network::Connection> upstream_;
  upstream::HostConstSharedPtr host_;
  std::string cluster_name_;
  // Telemetry: the observer's live byte counters, and what the session end reports.
  TcpSessionObserver* observer_ = nullptr;
  stats::TcpByteCounters* live_bytes_ = nullptr;
  uint64_t start_time_ms_ = 0;
  network::Address downstream_remote_;    // copied: the session may end in the connection's dtor
  std::string downstream_peer_uri_san_;   // verified SPIFFE ID of an mTLS client, copied too
  std::string downstream_local_uri_san_;  // our SPIFFE ID towards an mTLS client
  std::string upstream_peer_uri_san_;     // the upstream's verified SPIFFE ID (mutual cluster)
  std::string upstream_local_uri_san_;    // ours towards it
  bool downstream_mtls_ = false;
  bool upstream_mtls_ = false;
  bool session_started_ = false;                    // told the observer (see TcpSessionObserver)
  std::string_view response_flags_;                 // one of http::response_flags
  upstream::ResourceManager* resources_ = nullptr;  // holds a connection slot while non-null
  upstream::ConnectionTally upstream_tally_;        // upstream_ in its cluster's upstream_cx_*
  std::unique_ptr<event::Timer> idle_timer_;
  uint64_t last_activity_ms_ = 0;

  uint64_t bytes_from_downstream_ = 0;
  uint64_t bytes_from_upstream_ = 0;
  bool upstream_connected_ = false;
  bool downstream_read_disabled_for_connect_ = false;
  bool counted_active_ = false;
};

}  // namespace podproxy::filters
