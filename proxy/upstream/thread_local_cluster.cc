#include "proxy/upstream/thread_local_cluster.h"

#include <algorithm>
#include <set>
#include <utility>

#include "proxy/common/logger.h"
#include "proxy/upstream/auto_conn_pool.h"
#include "proxy/upstream/http2_conn_pool.h"

namespace podproxy::upstream {

ThreadLocalCluster::ThreadLocalCluster(event::Dispatcher& dispatcher, const config::Cluster& config,
                                       HostSetConstSharedPtr hosts,
                                       std::shared_ptr<ResourceManager> resources, Random& random,
                                       CodecFactory codec_factory)
    : dispatcher_(dispatcher),
      config_(config),
      hosts_(hosts ? std::move(hosts) : std::make_shared<const HostSet>()),
      resources_(std::move(resources)),
      codec_factory_(std::move(codec_factory)) {
  lb_ = createLoadBalancer(config_.lb_policy, hosts_, random, [this](const Host& host) {
    auto it = pools_.find(hostKey(host));
    return it == pools_.end() ? 0u : it->second->activeRequests();
  });
}

ThreadLocalCluster::~ThreadLocalCluster() = default;

void ThreadLocalCluster::updateHosts(HostSetConstSharedPtr hosts) {
  hosts_ = hosts ? std::move(hosts) : std::make_shared<const HostSet>();
  lb_->setHostSet(hosts_);
  std::set<std::string, std::less<>> live;
  for (const HostConstSharedPtr& host : hosts_->hosts) live.insert(hostKey(*host));
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (live.contains(it->first)) {
      ++it;
      continue;
    }
    std::unique_ptr<ConnPool> pool = std::move(it->second);
    it = pools_.erase(it);
    retirePool(std::move(pool));
  }
}

void ThreadLocalCluster::retirePool(std::unique_ptr<ConnPool> pool) {
  ConnPool* raw = pool.get();
  draining_pools_.push_back(std::move(pool));
  raw->drain([this, raw] {
    auto it = std::find_if(draining_pools_.begin(), draining_pools_.end(),
                           [raw](const auto& p) { return p.get() == raw; });
    if (it == draining_pools_.end()) return;
    addPoolStats(retired_stats_, raw->stats());
    std::unique_ptr<ConnPool> owned = std::move(*it);
    draining_pools_.erase(it);
    // We are inside the pool's own call stack.
    dispatcher_.deferredDelete(std::move(owned));
  });
}

HostConstSharedPtr ThreadLocalCluster::chooseHost() {
  return lb_->chooseHost();
}

HostConstSharedPtr ThreadLocalCluster::chooseHost(const network::Address* target,
                                                  const network::Address* source) {
  if (config_.type != config::Cluster::Type::kOriginalDst) return chooseHost();
  if (target == nullptr || !target->valid()) return nullptr;
  std::optional<network::Address> bind_from;
  if (source != nullptr) bind_from = *source;
  return std::make_shared<const Host>(config_.name, *target, target->ip(), bind_from);
}

ConnPool& ThreadLocalCluster::pool(const Host& host) {
  const std::string& key = hostKey(host);
  auto it = pools_.find(key);
  if (it != pools_.end()) return *it->second;
  if (config_.type == config::Cluster::Type::kOriginalDst && pools_.size() >= kMaxIdlePools) {
    // Passthrough meets a new destination per pool: forget the ones with nothing open.
    std::erase_if(pools_, [](const auto& entry) { return entry.second->idle(); });
  }
  // Keep the snapshot's shared pointer when the host is in it; otherwise (a host chosen from
  // an older snapshot) a copy keeps the pool independent of snapshot lifetimes.
  HostConstSharedPtr shared;
  for (const HostConstSharedPtr& h : hosts_->hosts) {
    if (h.get() == &host) shared = h;
  }
  if (!shared) shared = std::make_shared<const Host>(host);
  std::unique_ptr<ConnPool> pool;
  const bool tls = config_.tls.has_value() || config_.mutual;
  if (config_.protocol == config::Cluster::Protocol::kHttp2) {
    pool =
        std::make_unique<Http2ConnPool>(dispatcher_, shared, config_, *resources_, &http2_stats_);
  } else if (config_.protocol == config::Cluster::Protocol::kAuto && tls) {
    pool = std::make_unique<AutoConnPool>(dispatcher_, shared, config_, *resources_, &http2_stats_,
                                          codec_factory_);
  } else {
    // auto without TLS has no ALPN to choose by: HTTP/1.1.
    pool =
        std::make_unique<Http1ConnPool>(dispatcher_, shared, config_, *resources_, codec_factory_);
  }
  ConnPool& ref = *pool;
  pools_.emplace(key, std::move(pool));
  return ref;
}

PoolStats ThreadLocalCluster::stats() const {
  PoolStats total = retired_stats_;
  addPoolStats(total, unpooled_stats_);
  for (const auto& [key, pool] : pools_) addPoolStats(total, pool->stats());
  for (const auto& pool : draining_pools_) addPoolStats(total, pool->stats());
  return total;
}

void ThreadLocalCluster::drainAll() {
  for (auto& [key, pool] : pools_) pool->drain();
}

bool ThreadLocalCluster::idle() const {
  if (!draining_pools_.empty()) return false;
  return std::all_of(pools_.begin(), pools_.end(),
                     [](const auto& entry) { return entry.second->idle(); });
}

void ThreadLocalCluster::shutdown() {
  std::vector<std::unique_ptr<ConnPool>> pools = std::move(draining_pools_);
  draining_pools_.clear();
  for (auto& [key, pool] : pools_) pools.push_back(std::move(pool));
  pools_.clear();
  for (auto& pool : pools) {
    pool->shutdown();
    addPoolStats(retired_stats_, pool->stats());
    dispatcher_.deferredDelete(std::move(pool));
  }
}

ThreadLocalClusterManager::ThreadLocalClusterManager(event::Dispatcher& dispatcher, Random& random)
    : dispatcher_(dispatcher), random_(random) {}

ThreadLocalClusterManager::~ThreadLocalClusterManager() = default;

void ThreadLocalClusterManager::addCluster(const config::Cluster& config,
                                           HostSetConstSharedPtr hosts,
                                           std::shared_ptr<ResourceManager> resources,
                                           CodecFactory codec_factory) {
  clusters_[config.name] =
      std::make_unique<ThreadLocalCluster>(dispatcher_, config, std::move(hosts),
                                           std::move(resources), random_, std::move(codec_factory));
}

ThreadLocalCluster* ThreadLocalClusterManager::get(std::string_view name) {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second.get();
}

void ThreadLocalClusterManager::onHostsUpdated(const std::string& name,
                                               HostSetConstSharedPtr hosts) {
  if (ThreadLocalCluster* cluster = get(name)) cluster->updateHosts(std::move(hosts));
}

void ThreadLocalClusterManager::drainAll() {
  for (auto& [name, cluster] : clusters_) cluster->drainAll();
}

bool ThreadLocalClusterManager::idle() const {
  return std::all_of(clusters_.begin(), clusters_.end(),
                     [](const auto& entry) { return entry.second->idle(); });
}

void ThreadLocalClusterManager::shutdown() {
  for (auto& [name, cluster] : clusters_) cluster->shutdown();
}

}  // namespace podproxy::upstream
