#include "proxy/upstream/cluster_manager.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "proxy/common/logger.h"

namespace podproxy::upstream {

// A strict_dns cluster's resolution state. Each round resolves every endpoint name; an endpoint
// whose lookup fails keeps the addresses of its last good lookup, so a DNS hiccup never empties
// a cluster.
struct ClusterManager::DnsCluster {
  const config::Cluster* config = nullptr;
  std::vector<std::vector<network::Address>> last_good;  // per endpoint
  std::vector<std::optional<std::vector<network::Address>>> round;
  size_t outstanding = 0;
  bool round_failed = false;
  std::vector<Resolution*> in_flight;
  std::unique_ptr<event::Timer> timer;
};

// One uv_getaddrinfo request. It may outlive the manager (libuv calls back even when it is
// cancelled), so it is heap-allocated and frees itself in the callback.
struct ClusterManager::Resolution {
  uv_getaddrinfo_t req{};
  ClusterManager* owner = nullptr;  // null once the manager stopped
  DnsCluster* cluster = nullptr;
  size_t endpoint = 0;
};

ClusterManager::ClusterManager(event::Dispatcher& main_dispatcher,
                               const std::vector<config::Cluster>& clusters, PublishFn publish)
    : dispatcher_(main_dispatcher), configs_(clusters), publish_(std::move(publish)) {
  for (const config::Cluster& c : configs_) {
    resources_[c.name] = std::make_shared<ResourceManager>(c.circuit_breakers);
    auto set = std::make_shared<HostSet>();
    if (c.type == config::Cluster::Type::kStatic) {
      for (const config::SocketAddress& ep : c.endpoints) {
        std::optional<network::Address> addr = network::Address::fromIp(ep.host, ep.port);
        if (!addr) {
          // The loader validates static endpoints; this only guards against a model built by hand.
          LOG_ERROR("static cluster endpoint is not an IP literal", {"cluster", c.name},
                    {"host", ep.host});
          continue;
        }
        set->hosts.push_back(std::make_shared<const Host>(c.name, *addr, ep.host));
      }
    } else if (c.type == config::Cluster::Type::kStrictDns) {
      auto dns = std::make_unique<DnsCluster>();
      dns->config = &c;
      dns->last_good.resize(c.endpoints.size());
      dns_clusters_.push_back(std::move(dns));
    }
    // original_dst clusters have no hosts of their own: each connection brings its target.
    hosts_[c.name] = std::move(set);
  }
}

ClusterManager::~ClusterManager() {
  stop();
}

void ClusterManager::start() {
  if (started_) return;
  started_ = true;
  for (auto& dns : dns_clusters_) {
    DnsCluster* raw = dns.get();
    raw->timer = dispatcher_.createTimer([this, raw] { resolve(*raw); });
    if (raw->config->dns_refresh_rate.count() > 0) {
      raw->timer->enableRepeating(raw->config->dns_refresh_rate);
    }
    resolve(*raw);
  }
}

void ClusterManager::stop() {
  for (auto& dns : dns_clusters_) {
    dns->timer.reset();
    for (Resolution* r : dns->in_flight) {
      r->owner = nullptr;
      // Succeeds only if the lookup has not started in the thread pool; either way the
      // callback frees the request.
      uv_cancel(reinterpret_cast<uv_req_t*>(&r->req));
    }
    dns->in_flight.clear();
    dns->outstanding = 0;
  }
  started_ = false;
}

HostSetConstSharedPtr ClusterManager::hosts(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return std::make_shared<const HostSet>();
  return it->second;
}

std::shared_ptr<ResourceManager> ClusterManager::resources(const std::string& name) const {
  auto it = resources_.find(name);
  return it == resources_.end() ? nullptr : it->second;
}

void ClusterManager::resolve(DnsCluster& cluster) {
  if (cluster.outstanding > 0) return;  // the previous round is still out
  const auto& endpoints = cluster.config->endpoints;
  if (endpoints.empty()) return;
  cluster.round.assign(endpoints.size(), std::nullopt);
  cluster.round_failed = false;
  cluster.outstanding = endpoints.size();
  for (size_t i = 0; i < endpoints.size(); ++i) {
    auto* r = new Resolution;
    r->owner = this;
    r->cluster = &cluster;
    r->endpoint = i;
    r->req.data = r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const int rc = uv_getaddrinfo(dispatcher_.loop(), &r->req, &ClusterManager::onResolved,
                                  endpoints[i].host.c_str(), nullptr, &hints);
    if (rc != 0) {
      delete r;
      onEndpointResolved(cluster, i, rc, nullptr);
      continue;
    }
    cluster.in_flight.push_back(r);
  }
}

void ClusterManager::onResolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* r = static_cast<Resolution*>(req->data);
  if (r->owner != nullptr) {
    auto& in_flight = r->cluster->in_flight;
    in_flight.erase(std::remove(in_flight.begin(), in_flight.end(), r), in_flight.end());
    r->owner->onEndpointResolved(*r->cluster, r->endpoint, status, result);
  }
  uv_freeaddrinfo(result);
  delete r;
}

void ClusterManager::onEndpointResolved(DnsCluster& cluster, size_t endpoint, int status,
                                        addrinfo* result) {
  const config::SocketAddress& ep = cluster.config->endpoints[endpoint];
  if (status == 0) {
    std::vector<network::Address> addrs;
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      network::Address a(ai->ai_addr);
      a.setPort(ep.port);
      if (std::find(addrs.begin(), addrs.end(), a) == addrs.end()) addrs.push_back(a);
    }
    cluster.round[endpoint] = std::move(addrs);
  } else {
    cluster.round_failed = true;
    LOG_WARN("dns resolution failed; keeping last known addresses",
             {"cluster", cluster.config->name}, {"host", ep.host}, {"error", uv_err_name(status)});
  }
  if (--cluster.outstanding == 0) finishRound(cluster);
}

void ClusterManager::finishRound(DnsCluster& cluster) {
  ++dns_resolutions_;
  if (cluster.round_failed) ++dns_failures_;
  const config::Cluster& c = *cluster.config;
  auto set = std::make_shared<HostSet>();
  std::vector<network::Address> seen;
  for (size_t i = 0; i < c.endpoints.size(); ++i) {
    if (cluster.round[i]) cluster.last_good[i] = *cluster.round[i];
    for (const network::Address& a : cluster.last_good[i]) {
      if (std::find(seen.begin(), seen.end(), a) != seen.end()) continue;
      seen.push_back(a);
      set->hosts.push_back(std::make_shared<const Host>(c.name, a, c.endpoints[i].host));
    }
  }

  const HostSetConstSharedPtr current = hosts(c.name);
  const bool changed = current->hosts.size() != set->hosts.size() ||
                       !std::equal(current->hosts.begin(), current->hosts.end(), set->hosts.begin(),
                                   [](const HostConstSharedPtr& a, const HostConstSharedPtr& b) {
                                     return a->address() == b->address();
                                   });
  if (!changed) return;
  std::string list;
  for (const network::Address& a : seen) {
    if (!list.empty()) list += ",";
    list += a.toString();
  }
  LOG_INFO("cluster hosts changed", {"cluster", c.name}, {"hosts", list},
           {"count", set->hosts.size()});
  setHosts(c.name, std::move(set));
}

void ClusterManager::setHosts(const std::string& name, HostSetConstSharedPtr hosts) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hosts_[name] = hosts;
  }
  if (publish_) publish_(name, std::move(hosts));
}

}  // namespace podproxy::upstream
