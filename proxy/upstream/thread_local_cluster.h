#pragma once

// A worker's view of the upstream clusters: per cluster its host snapshot, load balancer and
// one connection pool per host (HTTP/1, HTTP/2, or both chosen by ALPN for `protocol: auto` over
// TLS, as the cluster's `protocol` says), all owned by the worker and touched only on its loop.
// The main thread's ClusterManager publishes new host snapshots through onHostsUpdated().

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "proxy/common/random.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/http2/settings.h"
#include "proxy/upstream/codec_client.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/http1_conn_pool.h"
#include "proxy/upstream/load_balancer.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class ThreadLocalCluster {
 public:
  ThreadLocalCluster(event::Dispatcher& dispatcher, const config::Cluster& config,
                     HostSetConstSharedPtr hosts, std::shared_ptr<ResourceManager> resources,
                     Random& random, CodecFactory codec_factory = http1CodecFactory());
  ~ThreadLocalCluster();
  ThreadLocalCluster(const ThreadLocalCluster&) = delete;
  ThreadLocalCluster& operator=(const ThreadLocalCluster&) = delete;

  // Installs a new snapshot. Pools of hosts that left are drained: idle connections close now,
  // busy ones when their stream ends, and the pool goes away once empty.
  void updateHosts(HostSetConstSharedPtr hosts);
  // nullptr when the cluster has no host.
  HostConstSharedPtr chooseHost();
  // For original_dst clusters, a host for `target` (the connection's original destination);
  // for the others the load balancer's choice. nullptr when there is none.
  HostConstSharedPtr chooseHost(const network::Address* target,
                                const network::Address* source = nullptr);
  // The worker's pool for `host`, created on first use. A host is identified by its address,
  // so it keeps its pool (and warm connections) across DNS refreshes that return it again.
  ConnPool& pool(const Host& host);

  const config::Cluster& config() const { return config_; }
  ResourceManager& resources() { return *resources_; }
  const HostSetConstSharedPtr& hosts() const { return hosts_; }
  // Sum of the counters of this worker's pools of this cluster (draining ones included) and of
  // its connections made outside the pools.
  PoolStats stats() const;
  // Where connections made outside the pools (tcp_proxy, CONNECT tunnels) are counted.
  PoolStats& unpooledStats() { return unpooled_stats_; }
  const http::http2::CodecStats& http2Stats() const { return http2_stats_; }
  // Visits this worker's live pools of the cluster (admin /clusters, per-host stats).
  template <typename Fn>
  void forEachPool(Fn&& fn) const {
    for (const auto& [key, pool] : pools_) fn(*pool);
  }

  // Graceful shutdown: every pool stops reusing connections; idle() once all are gone.
  void drainAll();
  bool idle() const;
  // Fails pending requests, resets streams and closes every connection now.
  void shutdown();

 private:
  static const std::string& hostKey(const Host& host) { return host.addressString(); }
  // original_dst clusters sweep idle pools once they hold this many.
  static constexpr size_t kMaxIdlePools = 256;
  void retirePool(std::unique_ptr<ConnPool> pool);

  event::Dispatcher& dispatcher_;
  const config::Cluster config_;  // a copy: pools keep references to it
  HostSetConstSharedPtr hosts_;
  std::shared_ptr<ResourceManager> resources_;
  CodecFactory codec_factory_;
  std::unique_ptr<LoadBalancer> lb_;
  std::map<std::string, std::unique_ptr<ConnPool>, std::less<>> pools_;
  // Pools of removed hosts, kept until their last connection closes.
  std::vector<std::unique_ptr<ConnPool>> draining_pools_;
  // Counters of pools already deleted, so stats() never goes backwards.
  PoolStats retired_stats_;
  PoolStats unpooled_stats_;
  // HTTP/2 codec counters of this cluster's connections on this worker.
  http::http2::CodecStats http2_stats_;
};

// Name -> ThreadLocalCluster for one worker.
class ThreadLocalClusterManager {
 public:
  ThreadLocalClusterManager(event::Dispatcher& dispatcher, Random& random);
  ~ThreadLocalClusterManager();

  void addCluster(const config::Cluster& config, HostSetConstSharedPtr hosts,
                  std::shared_ptr<ResourceManager> resources,
                  CodecFactory codec_factory = http1CodecFactory());
  // nullptr for an unknown cluster.
  ThreadLocalCluster* get(std::string_view name);
  // Runs on this worker's loop (the server posts it from the main thread).
  void onHostsUpdated(const std::string& name, HostSetConstSharedPtr hosts);

  event::Dispatcher& dispatcher() { return dispatcher_; }
  void drainAll();
  bool idle() const;
  // Closes everything; call before the worker's dispatcher shuts down.
  void shutdown();

 private:
  event::Dispatcher& dispatcher_;
  Random& random_;
  std::map<std::string, std::unique_ptr<ThreadLocalCluster>, std::less<>> clusters_;
};

}  // namespace podproxy::upstream
