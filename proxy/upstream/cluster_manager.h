#pragma once

// The main thread's owner of the upstream clusters: builds each cluster's host set (static IP
// literals, or strict_dns names resolved on the main loop every dns_refresh_rate), keeps the
// cluster's circuit breakers, and publishes every new host snapshot to the workers.

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::upstream {

class ClusterManager {
 public:
  // Called on the main thread with each new snapshot; the server posts it to every worker's
  // dispatcher (ThreadLocalClusterManager::onHostsUpdated).
  using PublishFn = std::function<void(const std::string& cluster, HostSetConstSharedPtr hosts)>;

  ClusterManager(event::Dispatcher& main_dispatcher, const std::vector<config::Cluster>& clusters,
                 PublishFn publish);
  ~ClusterManager();
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // Starts DNS resolution (at once, then every dns_refresh_rate) for strict_dns clusters.
  void start();
  // Stops the refresh timers and abandons resolutions in flight; the main loop can then close.
  void stop();

  // The current snapshot (empty, never null, for an unknown cluster or one not yet resolved).
  // Safe from any thread: workers read it once when they are built.
  HostSetConstSharedPtr hosts(const std::string& name) const;
  // nullptr for an unknown cluster.
  std::shared_ptr<ResourceManager> resources(const std::string& name) const;
  const std::vector<config::Cluster>& clusters() const { return configs_; }

  // Successful and failed DNS resolution rounds (tests, admin).
  uint64_t dnsResolutions() const { return dns_resolutions_; }
  uint64_t dnsFailures() const { return dns_failures_; }

 private:
  struct DnsCluster;
  struct Resolution;

  void resolve(DnsCluster& cluster);
  static void onResolved(uv_getaddrinfo_t* req, int status, addrinfo* result);
  void onEndpointResolved(DnsCluster& cluster, size_t endpoint, int status, addrinfo* result);
  void finishRound(DnsCluster& cluster);
  void setHosts(const std::string& name, HostSetConstSharedPtr hosts);

  event::Dispatcher& dispatcher_;
  const std::vector<config::Cluster> configs_;
  PublishFn publish_;

  mutable std::mutex mutex_;  // guards hosts_ only: written on refresh, read by workers once
  std::map<std::string, HostSetConstSharedPtr> hosts_;
  std::map<std::string, std::shared_ptr<ResourceManager>> resources_;
  std::vector<std::unique_ptr<DnsCluster>> dns_clusters_;
  uint64_t dns_resolutions_ = 0;
  uint64_t dns_failures_ = 0;
  bool started_ = false;
};

}  // namespace podproxy::upstream
