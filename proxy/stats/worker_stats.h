#pragma once

// A worker's stats shard (owned and written by the worker only, plain integers) and the copy of
// it the worker hands the main thread when a scrape asks (Worker::collectStats).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "filters/http/router.h"
#include "filters/listener/sniffing_filter.h"
#include "filters/network/tcp_proxy.h"
#include "proxy/http/connection_manager.h"
#include "proxy/stats/histogram.h"
#include "proxy/stats/istio_stats.h"
#include "proxy/upstream/http1_conn_pool.h"

namespace podproxy::stats {

// One listener on one worker. Also the snapshot's per-listener part (a plain copy).
struct ListenerStats {
  IstioShard istio;
  http::ConnectionManagerStats http;
  router::RouterStats router;
  filters::TcpProxyStats tcp;
  filters::DetectionStats detection;  // capture listeners: protocol detection outcomes
};

struct HostStatsSnapshot {
  std::string address;  // "ip:port"
  uint64_t rq_active = 0;
  uint64_t pending_active = 0;
  uint64_t cx_active = 0;
  uint64_t rq_total = 0;
};

struct ClusterStatsSnapshot {
  upstream::PoolStats pool;                   // this worker's pools of the cluster, summed
  http::http2::CodecStats http2;              // its HTTP/2 connections' codec counters
  uint64_t hosts = 0;                         // hosts in the worker's current snapshot
  std::vector<HostStatsSnapshot> host_stats;  // per pool (hosts that saw traffic)
};

struct WorkerStatsSnapshot {
  uint32_t worker = 0;
  std::vector<ListenerStats> listeners;        // in configuration order
  std::vector<ClusterStatsSnapshot> clusters;  // in configuration order
  Histogram loop_lag_seconds{kLoopLagBucketsSeconds};
};

}  // namespace podproxy::stats
