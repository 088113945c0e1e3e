#pragma once

// Folds the workers' stats snapshots into prometheus-cpp families on the main thread, at scrape
// time: Istio's standard metrics with Istio's label names and buckets, and podproxy's internal
// metrics (proxy/stats/internal_metrics.h). A fresh registry per scrape holds the summed totals,
// so nothing is shared with the workers and nothing is locked on their side.

#include <prometheus/labels.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/stats/istio_stats.h"
#include "proxy/stats/worker_stats.h"

namespace podproxy::stats {

// What the main thread knows itself (atomics shared with workers, counted once per connection).
struct ServerStats {
  struct Listener {
    std::string name;
    uint64_t cx_active = 0;
    uint64_t cx_overflow = 0;
  };
  struct Cluster {
    std::string name;
    uint64_t cx_overflow = 0;
    uint64_t pending_overflow = 0;
    uint64_t rq_overflow = 0;
  };
  bool ready = false;
  bool draining = false;
  uint32_t concurrency = 0;
  uint64_t config_loads = 1;
  int64_t start_time_seconds = 0;
  uint64_t access_log_lines = 0;
  uint64_t access_log_dropped = 0;
  uint64_t log_dropped = 0;         // the process's own log lines
  std::vector<Listener> listeners;  // configuration order
  std::vector<Cluster> clusters;    // configuration order
};

// Istio's label sets for one configuration (the local workload, each listener's direction, each
// cluster's destination service), built once per scrape from the config.
class IstioLabeler {
 public:
  explicit IstioLabeler(const config::Bootstrap& config);
  // `principals` resolves the key's identity (the shard the key came from).
  prometheus::Labels http(size_t listener, const HttpSeriesKey& key,
                          const PrincipalTable& principals) const;
  prometheus::Labels tcp(size_t listener, const TcpSeriesKey& key,
                         const PrincipalTable& principals) const;

 private:
  prometheus::Labels common(size_t listener, uint16_t cluster, std::string_view protocol,
                            uint32_t identity, const PrincipalTable& principals) const;

  const config::Bootstrap& config_;
};

// Sums the workers' snapshots: one ListenerStats per listener, one ClusterStatsSnapshot per
// cluster (hosts merged by address), loop lag per worker kept apart.
struct FoldedStats {
  std::vector<ListenerStats> listeners;
  std::vector<ClusterStatsSnapshot> clusters;
};
FoldedStats fold(const std::vector<WorkerStatsSnapshot>& workers, size_t listeners,
                 size_t clusters);

// The Prometheus text exposition (format 0.0.4).
std::string renderPrometheus(const config::Bootstrap& config,
                             const std::vector<WorkerStatsSnapshot>& workers,
                             const ServerStats& server);
// "name: value" lines for the plain /stats page.
std::string renderPlainStats(const config::Bootstrap& config,
                             const std::vector<WorkerStatsSnapshot>& workers,
                             const ServerStats& server);

}  // namespace podproxy::stats
