#pragma once

// Everything workers need from the main thread to start, immutable once built: the config,
// compiled route tables, listen sockets, and the clusters' initial hosts and circuit breakers.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "filters/authz/authz_policy.h"
#include "filters/http/route_table.h"
#include "proxy/access_log/access_log_ring.h"
#include "proxy/server/active_listener.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_transport_socket.h"
#include "proxy/upstream/host.h"
#include "proxy/upstream/resource_manager.h"

namespace podproxy::server {

struct ListenerRuntime {
  const config::Listener* config = nullptr;          // points into ServerSnapshot::config
  std::shared_ptr<const router::RouteTable> routes;  // HTTP listeners only
  // One per config->filter_chains entry (SNI chains); null for TCP chains.
  std::vector<std::shared_ptr<const router::RouteTable>> chain_routes;
  std::vector<int> fds;                    // one per worker
  std::unique_ptr<ListenerShared> shared;  // connection limit across workers
  // TLS: index into ServerSnapshot::tls_contexts (tls: or mtls:), -1 for plaintext.
  int tls_context = -1;
  std::shared_ptr<const authz::AuthzPolicy> authz;  // null: no authorization
};

struct ClusterRuntime {
  const config::Cluster* config = nullptr;
  upstream::HostSetConstSharedPtr initial_hosts;
  std::shared_ptr<upstream::ResourceManager> resources;
  int tls_context = -1;  // tls: or mutual: index into ServerSnapshot::tls_contexts
};

struct ServerSnapshot {
  std::shared_ptr<const config::Bootstrap> config;
  // Capture: service address ("ip:port") -> cluster, from clusters' service_addresses.
  std::map<std::string, std::string> service_clusters;
  std::vector<ListenerRuntime> listeners;
  std::vector<ClusterRuntime> clusters;
  // TLS contexts at start (reloads reach workers through Worker::updateTlsContext) and their
  // counters (owned by the server's TlsContextManager).
  std::vector<std::shared_ptr<const tls::TlsContext>> tls_contexts;
  std::vector<tls::TlsStats*> tls_stats;
  // One access-log ring per worker (owned by the server's AccessLogWriter); empty: no logs.
  std::vector<access_log::AccessLogRing*> access_log_rings;
};

}  // namespace podproxy::server
