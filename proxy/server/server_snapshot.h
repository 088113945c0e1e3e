#pragma once

// Everything workers need from the main thread to start, immutable once built: the config,
// compiled route tables, listen sockets, and the clusters' initial hosts and circuit breakers.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "filters/http/route_table.h"
#include "proxy/access_log/access_log_ring.h"
#include "proxy/server/active_listener.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::server {

struct ListenerRuntime {
  const config::Listener* config = nullptr;  // points into ServerSnapshot::config
  std::shared_ptr<const router::RouteTable> routes;  // HTTP listeners only
  std::vector<int> fds;                        // one per worker
  std::unique_ptr<ListenerShared> shared;      // connection limit across workers
};

struct ClusterRuntime {
  const config::Cluster* config = nullptr;
  upstream::HostSetConstSharedPtr initial_hosts;
  std::shared_ptr<upstream::ResourceManager> resources;
};

struct ServerSnapshot {
  std::shared_ptr<const config::Bootstrap> config;
  // Capture: service address ("ip:port") -> cluster, from clusters' service_addresses.
  std::map<std::string, std::string> service_clusters;
  std::vector<ListenerRuntime> listeners;
  std::vector<ClusterRuntime> clusters;
  // One access-log ring per worker (owned by the server's AccessLogWriter); empty: no logs.
  std::vector<access_log::AccessLogRing*> access_log_rings;
};

}  // namespace podproxy::server
